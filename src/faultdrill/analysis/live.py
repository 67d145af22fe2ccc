"""Judging rules while the drill runs (pure state machines fed one point at a time).

* ``BreachTracker``: which checks are breached *now* (sustained), with the moments they start
  and stop breaching — what the live view shows and what fires alerts.
* ``AbortMonitor``: stop conditions (abort rules and guard checks); fires once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from faultdrill.analysis.breaches import GAP_STEPS, breach_predicate, shortest
from faultdrill.analysis.series import LOAD_SAMPLING, Sampling, idle, sampling_for, second_value
from faultdrill.histograms import LoadSecond
from faultdrill.scenario.check_model import LOAD_METRICS, Abort, Check


@dataclass
class Rule:
    name: str
    metric: str
    request: str | None
    profile: str | None
    min: float | None
    max: float | None
    sustained: float
    after: float = 0.0
    sampling: Sampling = LOAD_SAMPLING  # load bins of 1 s, or recorder samples ``record.interval`` apart
    latency_of: str = "successful"
    breach_start: float | None = None
    last_t: float | None = None
    breached: bool = False  # sustained breach in progress
    last_value: float | None = None

    def bound(self) -> str:
        return " and ".join(b for b in ((f">= {self.min:g}" if self.min is not None else ""),
                                        (f"<= {self.max:g}" if self.max is not None else "")) if b)


@dataclass(frozen=True)
class Transition:
    rule: str
    metric: str
    state: str  # "breached" | "recovered"
    t: float  # when the transition happened (alert time for breached)
    since: float | None  # start of the breach
    detail: str


def _feed(rule: Rule, t: float, value: float | None) -> Transition | None:
    """One point in. A load bin [t, t+1) is known at t+1; an instant sample at its own time t."""
    if t < rule.after:
        return None
    bad = breach_predicate(rule.min, rule.max)(value)
    step = rule.sampling.step
    gap = rule.last_t is not None and t - rule.last_t > GAP_STEPS * step
    known = t + step if rule.sampling.binned else t
    rule.last_t = t
    rule.last_value = value
    if not bad:
        rule.breach_start = None
        if rule.breached:
            rule.breached = False
            return Transition(rule.name, rule.metric, "recovered", t, None,
                              f"{rule.name}: {rule.metric} = {value:g}, back within {rule.bound()}")
        return None
    if rule.breach_start is None or gap:
        rule.breach_start = t
    if not rule.breached and known - rule.breach_start >= shortest(rule.sustained, rule.sampling) - 1e-9:
        rule.breached = True
        shown = "no data" if value is None else f"{value:g}"
        return Transition(rule.name, rule.metric, "breached", known, rule.breach_start,
                          f"{rule.name}: {rule.metric} = {shown}, outside {rule.bound()} for "
                          f"{known - rule.breach_start:g}s (since t={rule.breach_start:g}s)")
    return None


@dataclass
class LiveRules:
    rules: list[Rule] = field(default_factory=list)

    def observe_load(self, second: LoadSecond) -> list[Transition]:
        out = []
        for rule in self.rules:
            if rule.metric in LOAD_METRICS:
                if idle(second, rule.request, rule.profile):
                    continue
                value = second_value(rule.metric, second, rule.request, rule.profile, rule.latency_of)
                transition = _feed(rule, float(second.t), value)
                if transition:
                    out.append(transition)
        return out

    def observe_sample(self, metric: str, t: float, value: float | None) -> list[Transition]:
        return [tr for rule in self.rules if rule.metric == metric and (tr := _feed(rule, t, value))]

    def breached(self) -> list[Rule]:
        return [r for r in self.rules if r.breached]


class BreachTracker(LiveRules):
    @classmethod
    def from_checks(cls, checks: Sequence[Check], only: Sequence[str] | None = None,
                    interval: float = 1.0) -> BreachTracker:
        """Checks judged on their per-second series as the run goes: "breached now". By default every
        check but baseline ones (those judge the quiet period, not an SLO to alert on)."""
        chosen = [c for c in checks if (c.name in only if only is not None else c.window not in ("baseline", "ramp"))]
        return cls([_check_rule(c.name, c, interval) for c in chosen])


def _check_rule(name: str, c: Check, interval: float) -> Rule:
    return Rule(name, c.metric, c.request, c.profile, c.min, c.max, c.sustained or 0.0,
                sampling=sampling_for(c.metric, interval), latency_of=c.latency_of)


@dataclass(frozen=True)
class AbortReason:
    rule: str
    metric: str
    since: float
    at: float
    detail: str


class AbortMonitor(LiveRules):
    fired: AbortReason | None = None

    @classmethod
    def from_scenario(cls, aborts: Sequence[Abort], checks: Sequence[Check], interval: float = 1.0) -> AbortMonitor:
        rules = [Rule(a.name, a.metric, a.request, a.profile, a.min, a.max, a.sustained, a.after,
                      sampling_for(a.metric, interval)) for a in aborts]
        rules += [_check_rule(f"guard: {c.name}", c, interval) for c in checks if c.guard]
        monitor = cls(rules)
        monitor.fired = None
        return monitor

    def _first(self, transitions: list[Transition]) -> AbortReason | None:
        if self.fired is None:
            for tr in transitions:
                if tr.state == "breached":
                    self.fired = AbortReason(tr.rule, tr.metric, tr.since or tr.t, tr.t, tr.detail)
                    break
        return self.fired

    def observe_load(self, second: LoadSecond) -> AbortReason | None:  # type: ignore[override]
        return self._first(super().observe_load(second))

    def observe_sample(self, metric: str, t: float, value: float | None) -> AbortReason | None:  # type: ignore[override]
        return self._first(super().observe_sample(metric, t, value))
