"""Time to detect and time to recover, per fault and per check, on the run clock (pure).

* detected: the first time, at or after the fault starts, that the check's series has been in breach
  for ``sustained`` seconds (1 s when the check has none) — when an alert on that SLO would fire.
  A breach already sustained when the fault starts counts as detected at once (``already_breached``).
* recovered: after the fault ends, the start of the first compliant stretch lasting ``sustained``
  (at least 5 s), provided the check had breached during the fault.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from faultdrill.analysis.breaches import breach_predicate, runs, sustained_runs
from faultdrill.analysis.series import SampleSource, series_for
from faultdrill.analysis.windows import FaultInterval
from faultdrill.load.histograms import LoadSecond
from faultdrill.scenario.check_model import Check

MIN_RECOVERY_S = 5.0


@dataclass(frozen=True)
class Detection:
    fault: str
    check: str
    fault_start: float
    fault_end: float | None
    detected_at: float | None
    time_to_detect_s: float | None
    recovered_at: float | None
    time_to_recover_s: float | None
    note: str

    def to_json(self) -> dict:
        return asdict(self)


def detect(check: Check, fault: FaultInterval, seconds: Sequence[LoadSecond], run_end: float,
           samples: SampleSource | None = None) -> Detection:
    series = [(t, v) for t, v in series_for(check.metric, check.request, seconds, samples, check.profile) if t < run_end]
    bad = breach_predicate(check.min, check.max)
    sustained = check.sustained or 1.0
    detected_at: float | None = None
    note = ""
    for run in sustained_runs(series, bad, sustained):
        alert = run.start + max(sustained, 1.0)
        if run.start <= fault.start < run.end and alert <= fault.start:
            detected_at, note = fault.start, "already_breached"
            break
        if alert >= fault.start and (fault.end is None or run.start < fault.end):
            detected_at = alert
            break
    if detected_at is None:
        return Detection(fault.name, check.name, fault.start, fault.end, None, None, None, None, "not_detected")
    recovered_at: float | None = None
    if fault.end is not None:
        need = max(sustained, MIN_RECOVERY_S)
        after = [(t, v) for t, v in series if t >= fault.end]
        good = [r for r in runs(after, lambda v: not bad(v)) if r.length >= need - 1e-9]
        if good:
            recovered_at = good[0].start
        else:
            note = (note + " never_recovered").strip()
    else:
        note = (note + " fault_never_ended").strip()
    return Detection(fault.name, check.name, fault.start, fault.end, detected_at,
                     round(detected_at - fault.start, 3),
                     recovered_at, None if recovered_at is None or fault.end is None else round(max(0.0, recovered_at - fault.end), 3),
                     note or "ok")


def detect_all(checks: Sequence[Check], faults: Sequence[FaultInterval], seconds: Sequence[LoadSecond],
               run_end: float, samples: SampleSource | None = None) -> list[Detection]:
    return [detect(c, f, seconds, run_end, samples) for f in faults for c in checks]
