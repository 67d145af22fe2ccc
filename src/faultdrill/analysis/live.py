"""Stop conditions judged while the drill runs: abort rules and guard checks (pure state machine).

Fed one point at a time (load seconds as they arrive, recorded samples as they land); fires once
a rule's metric has breached its bound for its ``sustained`` time without a break.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from faultdrill.analysis.breaches import breach_predicate
from faultdrill.analysis.series import load_value
from faultdrill.load.histograms import LoadSecond
from faultdrill.scenario.check_model import LOAD_METRICS, Abort, Check


@dataclass(frozen=True)
class AbortReason:
    rule: str
    metric: str
    since: float
    at: float
    detail: str


@dataclass
class _RuleState:
    name: str
    metric: str
    request: str | None
    min: float | None
    max: float | None
    sustained: float
    after: float
    breach_start: float | None = None
    last_t: float | None = None


@dataclass
class AbortMonitor:
    rules: list[_RuleState] = field(default_factory=list)
    fired: AbortReason | None = None

    @classmethod
    def from_scenario(cls, aborts: Sequence[Abort], checks: Sequence[Check]) -> "AbortMonitor":
        rules = [_RuleState(a.name, a.metric, a.request, a.min, a.max, a.sustained, a.after) for a in aborts]
        rules += [_RuleState(f"guard: {c.name}", c.metric, c.request, c.min, c.max, c.sustained or 1.0, 0.0)
                  for c in checks if c.guard]
        return cls(rules)

    def observe_load(self, second: LoadSecond) -> AbortReason | None:
        for rule in self.rules:
            if rule.metric in LOAD_METRICS:
                stats = second.total() if rule.request is None else second.requests.get(rule.request)
                if second.users == 0 and (stats is None or stats.count == 0):
                    continue
                self._point(rule, float(second.t), load_value(rule.metric, stats, second.users))
        return self.fired

    def observe_sample(self, metric: str, t: float, value: float | None) -> AbortReason | None:
        for rule in self.rules:
            if rule.metric == metric:
                self._point(rule, t, value)
        return self.fired

    def _point(self, rule: _RuleState, t: float, value: float | None) -> None:
        if self.fired is not None or t < rule.after:
            return
        bad = breach_predicate(rule.min, rule.max)(value)
        gap = rule.last_t is not None and t - rule.last_t > 1.5
        rule.last_t = t
        if not bad:
            rule.breach_start = None
            return
        if rule.breach_start is None or gap:
            rule.breach_start = t
        if t + 1.0 - rule.breach_start >= rule.sustained - 1e-9:
            shown = "no data" if value is None else f"{value:g}"
            bound = " and ".join(b for b in ((f">= {rule.min:g}" if rule.min is not None else ""),
                                             (f"<= {rule.max:g}" if rule.max is not None else "")) if b)
            self.fired = AbortReason(rule.name, rule.metric, rule.breach_start, t + 1.0,
                                     f"{rule.name}: {rule.metric} = {shown}, outside {bound} for "
                                     f"{t + 1.0 - rule.breach_start:g}s (since t={rule.breach_start:g}s)")
