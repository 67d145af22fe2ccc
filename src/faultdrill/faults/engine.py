"""Applying faults on the run clock, and healing every one of them whatever happens.

The timeline: a fault starts at ``at`` (or, with ``when``, at the first moment after ``at`` that the
load reaches the trigger), lasts ``for``, may flap (``repeat``) or ramp its toxic (``ramp``), and
always ends healed. Manual faults (game days) start and stop only when asked.
Every apply is journaled before it happens; every revert once it has happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from faultdrill.faults.actions import Action, ToxicAction
from faultdrill.faults.journal import Journal
from faultdrill.histograms import LoadSecond
from faultdrill.recorder.events import EventLog
from faultdrill.scenario.fault_model import Fault, Trigger

RAMP_STEP_S = 1.0


@dataclass
class LoadState:
    users: int = 0
    rps: float = 0.0
    error_rate: float = 0.0

    def meets(self, trigger: Trigger) -> bool:
        if trigger.users_at_least is not None:
            return self.users >= trigger.users_at_least
        if trigger.rps_above is not None:
            return self.rps > trigger.rps_above
        assert trigger.error_rate_above is not None
        return self.error_rate > trigger.error_rate_above


@dataclass
class ScheduledFault:
    fault: Fault
    action: Action
    started_at: float | None = None
    stopped_at: float | None = None
    applied: bool = False
    injected: bool = False
    last_ramp_t: float = -1.0

    @property
    def active(self) -> bool:
        return self.started_at is not None and self.stopped_at is None

    @property
    def window_end(self) -> float | None:
        if self.started_at is None or self.fault.for_ is None:
            return None
        return self.started_at + self.fault.for_


def ramp_values(fault: Fault, progress: float) -> tuple[dict[str, int], float | None]:
    """Toxic attributes (API units) and toxicity at ``progress`` ∈ [0, 1] of a ramp (pure)."""
    assert fault.ramp is not None and fault.toxic is not None
    progress = min(max(progress, 0.0), 1.0)
    start = fault.toxic.api_attributes()
    attributes: dict[str, int] = {}
    for attr, scale in (("latency", 1000), ("jitter", 1000), ("rate", 1)):
        target = getattr(fault.ramp, attr)
        if target is not None:
            a, b = start.get(attr, 0), target * scale
            attributes[attr] = round(a + (b - a) * progress)
    toxicity = None
    if fault.ramp.toxicity is not None:
        toxicity = round(fault.toxic.toxicity + (fault.ramp.toxicity - fault.toxic.toxicity) * progress, 4)
    return attributes, toxicity


@dataclass
class FaultEngine:
    scheduled: list[ScheduledFault]
    journal: Journal
    events: EventLog
    now: Callable[[], float]
    load: LoadState = field(default_factory=LoadState)
    revealed: set[str] = field(default_factory=set)  # hidden faults whose names responders may now see

    def observe_load(self, second: LoadSecond) -> None:
        total = second.total()
        self.load = LoadState(second.users, float(total.count), total.failures / total.count if total.count else 0.0)

    # ------------------------------------------------------------------ the timeline
    def tick(self) -> None:
        t = self.now()
        for item in self.scheduled:
            fault = item.fault
            if item.started_at is None:
                if fault.manual and not item.injected:
                    continue
                if item.injected or (t >= fault.at and (fault.when is None or self.load.meets(fault.when))):
                    self._start(item, t)
                continue
            if not item.active:
                continue
            end = item.window_end
            if end is not None and t >= end:
                self._stop(item, reason="scheduled")
            elif fault.repeat is not None:
                cycle = fault.repeat.on + fault.repeat.off
                want_on = (t - item.started_at) % cycle < fault.repeat.on
                if want_on and not item.applied:
                    self._apply(item)
                    self.events.emit("fault.flap", fault=fault.name, state="on")
                elif not want_on and item.applied:
                    self._revert(item)
                    self.events.emit("fault.flap", fault=fault.name, state="off")
            if fault.ramp is not None and item.applied and t - item.last_ramp_t >= RAMP_STEP_S and end is not None:
                self._ramp(item, (t - item.started_at) / (end - item.started_at), t)

    def _apply(self, item: ScheduledFault) -> None:
        item.action.prepare()  # what undoing it needs goes in the journal line, so read it first
        self.journal.record("apply", item.action.describe(), t=self.now())
        item.action.apply()
        item.applied = True

    def _revert(self, item: ScheduledFault) -> None:
        item.action.revert()
        item.applied = False
        self.journal.record("revert", item.action.describe(), t=self.now())

    def _ramp(self, item: ScheduledFault, progress: float, t: float) -> None:
        attributes, toxicity = ramp_values(item.fault, progress)
        assert isinstance(item.action, ToxicAction)
        self.journal.record("update", {**item.action.describe(), "attributes": attributes}, t=t)
        item.action.update(attributes, toxicity)
        item.last_ramp_t = t
        self.events.emit("fault.ramp", fault=item.fault.name, attributes=attributes, toxicity=toxicity,
                         progress=round(progress, 3))

    def _start(self, item: ScheduledFault, t: float) -> None:
        self._apply(item)
        item.started_at = self.now()
        self.events.emit("fault.start", fault=item.fault.name, fault_kind=item.fault.kind, planned_at=item.fault.at,
                         trigger=item.fault.when.model_dump(exclude_none=True) if item.fault.when else None,
                         manual=item.fault.manual, hidden=item.fault.hidden, action=item.action.describe())

    def _stop(self, item: ScheduledFault, reason: str) -> None:
        if item.applied:
            self._revert(item)
        item.stopped_at = self.now()
        self.events.emit("fault.stop", fault=item.fault.name, planned_at=item.window_end, reason=reason)

    # ------------------------------------------------------------------ by hand (game days) and at the end
    def find(self, name: str) -> ScheduledFault:
        for item in self.scheduled:
            if item.fault.name == name:
                return item
        raise KeyError(name)

    def inject(self, name: str) -> None:
        item = self.find(name)
        if item.started_at is None:
            item.injected = True
            self._start(item, self.now())

    def heal(self, name: str, reason: str = "healed by hand") -> None:
        item = self.find(name)
        if item.active:
            self._stop(item, reason=reason)

    def heal_all(self, reason: str = "teardown") -> list[str]:
        """Revert every active fault, newest first. Returns problems, never raises."""
        problems = []
        for item in reversed(self.scheduled):
            if item.active:
                try:
                    self._stop(item, reason=reason)
                except Exception as exc:
                    problems.append(f"could not heal {item.fault.name!r}: {exc}")
                    self.events.emit("fault.heal_failed", fault=item.fault.name, error=str(exc))
        return problems

    def active_names(self) -> list[str]:
        """Real names: for the run's own files, never for a screen responders watch (see ``shown_name``)."""
        return [item.fault.name for item in self.scheduled if item.active]

    # ------------------------------------------------------------------ what responders may see
    def reveal(self, name: str) -> str:
        item = self.find(name)
        self.revealed.add(item.fault.name)
        return item.fault.name

    def is_hidden(self, item: ScheduledFault) -> bool:
        return item.fault.hidden and item.fault.name not in self.revealed

    def shown_name(self, item: ScheduledFault) -> str:
        """A hidden fault is "hidden fault #n" (its place in the scenario) until revealed."""
        number = f"hidden fault #{self.scheduled.index(item) + 1}"
        if not item.fault.hidden:
            return item.fault.name
        return number if item.fault.name not in self.revealed else f"{item.fault.name} ({number})"

    def shown_active_names(self) -> list[str]:
        return [self.shown_name(item) for item in self.scheduled if item.active]
