"""Applying faults on the run clock, and healing every one of them whatever happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from faultdrill.faults.actions import Action, action_for
from faultdrill.faults.journal import Journal
from faultdrill.recorder.events import EventLog
from faultdrill.scenario.model import Fault
from faultdrill.toxiproxy.client import ToxiproxyClient


@dataclass
class ScheduledFault:
    fault: Fault
    action: Action
    started_at: float | None = None
    stopped_at: float | None = None

    @property
    def active(self) -> bool:
        return self.started_at is not None and self.stopped_at is None


@dataclass
class FaultEngine:
    faults: list[Fault]
    toxiproxy: ToxiproxyClient | None
    journal: Journal
    events: EventLog
    now: Callable[[], float]
    scheduled: list[ScheduledFault] = field(init=False)

    def __post_init__(self) -> None:
        self.scheduled = [ScheduledFault(f, action_for(f, self.toxiproxy)) for f in self.faults]

    def tick(self) -> None:
        """Start and stop whatever the timeline says is due now."""
        t = self.now()
        for item in self.scheduled:
            if item.started_at is None and t >= item.fault.at:
                self._start(item)
            elif item.active and item.fault.end is not None and t >= item.fault.end:
                self._stop(item, reason="scheduled")

    def _start(self, item: ScheduledFault) -> None:
        self.journal.record("apply", item.action.describe(), t=self.now())
        item.action.apply()
        item.started_at = self.now()
        self.events.emit("fault.start", fault=item.fault.name, planned_at=item.fault.at,
                         action=item.action.describe())

    def _stop(self, item: ScheduledFault, reason: str) -> None:
        item.action.revert()
        item.stopped_at = self.now()
        self.journal.record("revert", item.action.describe(), t=item.stopped_at)
        self.events.emit("fault.stop", fault=item.fault.name, planned_at=item.fault.end, reason=reason)

    def heal_all(self, reason: str = "teardown") -> list[str]:
        """Revert every active fault, newest first. Returns problems, never raises."""
        problems = []
        for item in reversed(self.scheduled):
            if item.active:
                try:
                    self._stop(item, reason=reason)
                except Exception as exc:  # noqa: BLE001 - keep healing the others; reported below
                    problems.append(f"could not heal {item.fault.name!r}: {exc}")
                    self.events.emit("fault.heal_failed", fault=item.fault.name, error=str(exc))
        return problems

    def active_names(self) -> list[str]:
        return [item.fault.name for item in self.scheduled if item.active]
