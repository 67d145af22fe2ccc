"""The noise-aware regression gate (pure): the newest run against the spread of the previous N.

Grammar of ``--fail-if`` (one gate per flag)::

    SERIES:+AMOUNT[%|ms]     trips on a rise;   SERIES:-AMOUNT[%|ms]   trips on a fall
    SERIES = METRIC[@WINDOW] a window figure: p50 p95 p99 max error_rate rps requests failures
                             (window: run by default, or baseline, fault, recovery, a fault's name)
           | check=NAME      a check's value, by the check's name

    p95:+20%   p99@recovery:+50ms   error_rate@fault:+0.01   rps:-10%   check=event pages keep working:+20%

The reference is the **median** of the previous runs' values; their spread is the **MAD**
(median absolute deviation, scaled by 1.4826 to read like a standard deviation). The gate trips
only when the newest value is beyond the bound (median ± amount) **and** outside the noise band
(median ± 3 × MAD): one noisy earlier run moves neither the median nor the MAD much, and a newest
run that is no further out than the runs before it already were does not fail the build.
Fail closed: no value in the newest run, or no previous run with a value, trips the gate.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from faultdrill.errors import UsageError
from faultdrill.report.compare import GATE_SYNTAX, Gate, parse_gate

NOISE_K = 3.0  # band half-width in scaled MADs
MAD_SCALE = 1.4826
HISTORY_GATE_SYNTAX = (f"{GATE_SYNTAX}; or check=NAME:+AMOUNT[%] for a check's value, "
                       "e.g. 'check=event pages keep working:+20%'")


@dataclass(frozen=True)
class SeriesGate:
    text: str
    gate: Gate  # direction, amount, relative; metric/window unused for a check gate
    check: str | None  # a check's name, or None for a window figure

    @property
    def label(self) -> str:
        return f"check {self.check!r}" if self.check else f"{self.gate.metric}@{self.gate.window}"


def parse_series_gate(text: str) -> SeriesGate:
    raw = text.strip()
    if raw.startswith("check="):
        name, sep, bound = raw[len("check="):].rpartition(":")
        if not sep or not name.strip():
            raise UsageError(f"bad --fail-if {text!r}: no bound after the check's name",
                             hint=f"write {HISTORY_GATE_SYNTAX}")
        try:
            gate = parse_gate(f"p95:{bound}")  # the bound's grammar is compare's
        except UsageError:
            raise UsageError(f"bad --fail-if {text!r}: bad bound {bound!r}", hint=f"write {HISTORY_GATE_SYNTAX}") from None
        if bound.endswith("ms"):
            raise UsageError(f"bad --fail-if {text!r}: a check's bound is in % or in the check's own unit",
                             hint=f"write {HISTORY_GATE_SYNTAX}")
        return SeriesGate(text, gate, name.strip())
    try:
        return SeriesGate(text, parse_gate(raw), None)
    except UsageError as exc:
        raise UsageError(exc.message, hint=f"write {HISTORY_GATE_SYNTAX}") from None


@dataclass(frozen=True)
class Spread:
    median: float
    mad: float  # scaled
    n: int

    def band(self, k: float = NOISE_K) -> tuple[float, float]:
        return self.median - k * self.mad, self.median + k * self.mad


def spread_of(values: Sequence[float | None]) -> Spread | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    med = statistics.median(vals)
    mad = statistics.median(abs(v - med) for v in vals) * MAD_SCALE
    return Spread(med, mad, len(vals))


@dataclass(frozen=True)
class NoiseVerdict:
    gate: SeriesGate
    newest: float | None
    spread: Spread | None
    bound: float | None  # the value the newest run must not pass
    tripped: bool
    reason: str


def judge(gate: SeriesGate, newest: float | None, previous: Sequence[float | None]) -> NoiseVerdict:
    g = gate.gate
    spread = spread_of(previous)
    if newest is None:
        return NoiseVerdict(gate, None, spread, None, True,
                            f"{gate.label}: the newest run has no value (a gate never passes on missing data)")
    if spread is None:
        return NoiseVerdict(gate, newest, None, None, True,
                            f"{gate.label}: no previous run has a value to compare with (a gate never passes on "
                            "missing data)")
    delta = abs(spread.median) * g.amount / 100 if g.relative else g.amount
    bound = spread.median + g.direction * delta
    low, high = spread.band()
    beyond = newest > bound if g.direction > 0 else newest < bound
    outside = newest > high if g.direction > 0 else newest < low
    tripped = beyond and outside
    unit = " ms" if (not gate.check and g.metric.endswith("_ms")) else ""
    change = (f"{(newest - spread.median) / abs(spread.median) * 100:+.1f} %" if spread.median
              else f"{newest - spread.median:+.4g}{unit}")
    head = (f"{gate.label}: {newest:.4g}{unit} vs median {spread.median:.4g}{unit} of {spread.n} previous "
            f"run(s) ({change}); bound {bound:.4g}{unit}, noise band {low:.4g}–{high:.4g}{unit}")
    if tripped:
        why = "TRIPPED: beyond the bound and outside the noise band"
    elif beyond:
        why = "held: beyond the bound but inside the noise band (the previous runs vary this much)"
    else:
        why = "held: within the bound"
    return NoiseVerdict(gate, newest, spread, bound, tripped, f"{head}: {why}")
