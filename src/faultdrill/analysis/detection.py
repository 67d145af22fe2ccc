"""Time to detect and time to recover, per fault, for the checks where that means something (pure).

Two kinds of checks get rows:

* an **SLO** (something that must hold) gets a row for each fault that happened in its window.
  *Detected*: when an alert on the SLO would fire — its series has been in breach for ``sustained``
  (one second, or one sample, without it) — for the first breach that overlaps the fault. A breach
  that began before the fault started is ``already_breached`` (and names the faults that were on
  then), never "detected in 0 s". *Recovered*: the start of the first compliant stretch of at least
  ``max(sustained, 5 s)`` after the breach, measured from the heal that actually ended the breach —
  the last heal, among the faults active during the breach, before the recovery (``recovered_after``),
  so a slow-mail fault is not said to take 30 s to recover while a second fault kept the breach on.
  Other faults active during the breach are listed in ``overlaps``. No breach: ``held``.
* an **expectation** (a check that confirms its fault shows, e.g. "p50 ≥ 200 ms during slow backend")
  gets one row, for its own fault: *shown* when the effect became visible, *gone* when it went
  away after the heal.

Checks on the ``baseline`` or ``ramp`` windows, and misconfigured checks, get no rows; nor does a
check whose window no fault overlaps (``recovery``, unless a fault did not end).

A load bin ``[t, t+1)`` belongs to a fault when its midpoint lies in the fault's interval — the same
rule the windows use — so a breach that begins in the bin where one fault ends and the next starts
is the next one's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from faultdrill.analysis.breaches import Run, alert_time, breach_predicate, runs, sustained_runs
from faultdrill.analysis.series import SampleSource, Sampling, Series, sampling_for, series_for
from faultdrill.analysis.windows import FaultInterval, Window
from faultdrill.histograms import LoadSecond
from faultdrill.scenario.check_model import Check

MIN_RECOVERY_S = 5.0
NO_ROWS_WINDOWS = ("baseline", "ramp")


@dataclass(frozen=True)
class Detection:
    fault: str
    check: str
    fault_start: float
    fault_end: float | None  # None: the fault did not end (still on when the run ended)
    detected_at: float | None
    time_to_detect_s: float | None
    recovered_at: float | None
    time_to_recover_s: float | None  # from the heal of ``recovered_after``
    note: str  # ok | held | already_breached | never_recovered | recovered_during_fault | fault_did_not_end
    #            | shown | not_shown | still_shown (expectations)
    role: str = "slo"  # slo | expectation
    recovered_after: str | None = None  # the fault whose heal ended the breach
    overlaps: tuple[str, ...] = ()  # other faults that were active during the breach

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Ctx:
    series: Series
    sampling: Sampling
    sustained: float | None
    run_end: float
    faults: Sequence[FaultInterval]

    def end_of(self, fault: FaultInterval) -> float:
        return self.run_end if fault.end is None else fault.end

    def active(self, a: float, b: float) -> list[FaultInterval]:
        return [f for f in self.faults if f.start < b and self.end_of(f) > a]

    def overlaps(self, run: Run, fault: FaultInterval) -> bool:
        """Does the run have a point inside the fault? A bin belongs where its midpoint lies (the
        windows' own rule), so a bin that straddles a fault's start or end is not double-counted."""
        first, last = _points(run, self.sampling)
        return first < self.end_of(fault) and last >= fault.start

    def before(self, run: Run, fault: FaultInterval) -> bool:
        """Did the run begin before the fault did (its first point lies before the fault's start)?"""
        return _points(run, self.sampling)[0] < fault.start


def _point(t: float, sampling: Sampling) -> float:
    """Where a point lies in time: a bin at its midpoint (a heal inside the bin came before it)."""
    return t + sampling.step / 2 if sampling.binned else t


def _points(run: Run, sampling: Sampling) -> tuple[float, float]:
    """Where a run's first and last points lie: bins at their midpoints, instants at their times."""
    if sampling.binned:
        half = sampling.step / 2
        return run.start + half, run.end - half
    return run.start, run.end


def _first_good_stretch(ctx: _Ctx, bad: Callable[[float | None], bool], after: float) -> float | None:
    need = max(ctx.sustained or 0.0, MIN_RECOVERY_S)
    later = [(t, v) for t, v in ctx.series if t >= after]
    good = [r for r in runs(later, lambda v: not bad(v), ctx.sampling) if r.length >= need - 1e-9]
    if good:
        return good[0].start
    return None


def _slo_row(check: Check, fault: FaultInterval, ctx: _Ctx, bad: Callable[[float | None], bool]) -> Detection:
    episode = next((r for r in sustained_runs(ctx.series, bad, ctx.sustained, ctx.sampling)
                    if ctx.overlaps(r, fault)), None)
    if episode is None:
        return Detection(fault.name, check.name, fault.start, fault.end, None, None, None, None, "held")
    already = ctx.before(episode, fault)
    detected = None if already else alert_time(episode, ctx.sustained, ctx.sampling)
    recovered = _first_good_stretch(ctx, bad, episode.end if ctx.sampling.binned else episode.end + 1e-9)
    during = ctx.active(episode.start, recovered if recovered is not None else ctx.run_end)
    overlaps = tuple(f.name for f in during if f.name != fault.name)
    healer, note = _healer(fault, during, None if recovered is None else _point(recovered, ctx.sampling))
    notes = (["already_breached"] if already else []) + ([note] if note else [])
    return Detection(fault.name, check.name, fault.start, fault.end, detected,
                     None if detected is None else round(detected - fault.start, 3),
                     recovered, None if healer is None or healer.end is None or recovered is None else round(max(0.0, recovered - healer.end), 3),
                     " ".join(notes) or "ok", "slo", None if healer is None else healer.name, overlaps)


def _healer(fault: FaultInterval, during: Sequence[FaultInterval],
            recovered: float | None) -> tuple[FaultInterval | None, str]:
    """The fault whose heal ended the breach (the last heal before the recovery's first point), and a note."""
    if recovered is None:
        return None, "never_recovered" if fault.healed else "fault_did_not_end"
    healed_before = [f for f in during if f.end is not None and f.end <= recovered + 1e-9]
    if not healed_before:
        return None, "recovered_during_fault"
    return max(healed_before, key=lambda f: f.end or 0.0), ""


def _expectation_row(check: Check, fault: FaultInterval, ctx: _Ctx, bad: Callable[[float | None], bool]) -> Detection:
    shows = lambda v: not bad(v)  # noqa: E731 - the effect is visible while the check's bound holds
    episode: Run | None = next((r for r in sustained_runs(ctx.series, shows, ctx.sustained, ctx.sampling)
                                if ctx.overlaps(r, fault)), None)
    if episode is None:
        return Detection(fault.name, check.name, fault.start, fault.end, None, None, None, None, "not_shown",
                         "expectation")
    shown = max(alert_time(episode, ctx.sustained, ctx.sampling), fault.start)
    gone = None
    if fault.end is not None:
        gone = _first_good_stretch(ctx, shows, max(episode.end, fault.end))
    note = "shown" if gone is not None else ("still_shown" if fault.healed else "fault_did_not_end")
    return Detection(fault.name, check.name, fault.start, fault.end, shown, round(shown - fault.start, 3), gone,
                     None if gone is None or fault.end is None else round(max(0.0, gone - fault.end), 3), note,
                     "expectation", fault.name if gone is not None else None)


def _faults_for(check: Check, window: Window | None, faults: Sequence[FaultInterval], run_end: float,
                expectation: bool) -> list[FaultInterval]:
    if window is None or window.kind in NO_ROWS_WINDOWS:
        return []
    if window.kind == "fault":
        return [f for f in faults if f.name == window.name]
    if expectation:
        return []  # an expectation names its fault; over a broader window it has nothing to pair with
    return [f for f in faults if any(a < (run_end if f.end is None else f.end) and f.start < b
                                     for a, b in window.spans)]


def detect(check: Check, fault: FaultInterval, seconds: Sequence[LoadSecond], run_end: float,
           samples: SampleSource | None = None, *, faults: Sequence[FaultInterval] | None = None,
           interval: float = 1.0, expectation: bool = False) -> Detection:
    sampling = sampling_for(check.metric, interval)
    series = [(t, v) for t, v in series_for(check.metric, check.request, seconds, samples, check.profile,
                                           check.latency_of) if t < run_end]
    ctx = _Ctx(series, sampling, check.sustained, run_end, faults if faults is not None else [fault])
    bad = breach_predicate(check.min, check.max)
    return (_expectation_row if expectation else _slo_row)(check, fault, ctx, bad)


def detect_all(checks: Sequence[Check], faults: Sequence[FaultInterval], seconds: Sequence[LoadSecond],
               run_end: float, samples: SampleSource | None = None, *, windows: dict[str, Window] | None = None,
               interval: float = 1.0, skip: Sequence[str] = ()) -> list[Detection]:
    """Rows for every (check, fault) pair that means something; ``skip``: misconfigured checks."""
    from faultdrill.analysis.checks import window_of

    names = [f.name for f in faults]
    out = []
    for check in checks:
        if check.name in skip:
            continue
        expectation = check.is_expectation(names)
        window = window_of(check, windows) if windows is not None else Window("run", ((0.0, run_end),), "run")
        for fault in _faults_for(check, window, faults, run_end, expectation):
            out.append(detect(check, fault, seconds, run_end, samples, faults=faults, interval=interval,
                              expectation=expectation))
    return out
