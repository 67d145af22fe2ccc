"""Comparing two runs: per-window and per-check deltas, overlaid latency curves, regression gates.

A gate is ``METRIC[@WINDOW]:±AMOUNT[%|ms]``; it trips when run B is worse than run A by more
than the amount in the signed direction::

    p95:+20%              B's p95 over the whole run is more than 20 % above A's
    p99@recovery:+50ms    B's p99 in the recovery window is more than 50 ms above A's
    error_rate:+0.01      B's error rate rose by more than 0.01 (one percentage point)
    rps@fault:-10%        B's throughput during the faults fell by more than 10 %

A change exactly at the limit does not trip. A gate that cannot be evaluated (the window or
value is missing in either run) trips too: a gate never passes on missing data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultdrill.errors import UsageError
from faultdrill.recorder.rundir import RunDir

METRIC_ALIASES = {
    "p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms", "max": "max_ms", "error_rate": "error_rate",
    "errors": "error_rate", "rps": "rps", "requests": "requests", "failures": "failures",
    "p50_ms": "p50_ms", "p95_ms": "p95_ms", "p99_ms": "p99_ms", "max_ms": "max_ms",
}
COMPARED_METRICS = ("p50_ms", "p95_ms", "p99_ms", "error_rate", "rps")
GATE_RE = re.compile(r"^(?P<metric>[A-Za-z0-9_]+)(?:@(?P<window>[^:]+))?:(?P<sign>[+-])(?P<amount>\d+(?:\.\d+)?)"
                     r"(?P<unit>%|ms)?$")
GATE_SYNTAX = "METRIC[@WINDOW]:+AMOUNT[%|ms] or :-AMOUNT, e.g. p95:+20%, p99@recovery:+50ms, error_rate:+0.01"


# --------------------------------------------------------------------------- gates (pure)
@dataclass(frozen=True)
class Gate:
    text: str
    metric: str  # a window-stats key: p95_ms, error_rate, rps, …
    window: str
    direction: int  # +1: trips on a rise; -1: trips on a fall
    amount: float
    relative: bool  # amount in % of A's value; else absolute, in the metric's unit


def parse_gate(text: str) -> Gate:
    match = GATE_RE.match(text.strip().replace(" :", ":"))
    if not match:
        raise UsageError(f"bad --fail-if {text!r}", hint=f"write {GATE_SYNTAX}")
    alias = match["metric"].lower()
    metric = METRIC_ALIASES.get(alias)
    if metric is None:
        raise UsageError(f"bad --fail-if {text!r}: unknown metric {match['metric']!r}",
                         hint=f"use one of {', '.join(sorted(set(METRIC_ALIASES) - set(METRIC_ALIASES.values())))}"
                              f" (or {', '.join(COMPARED_METRICS)})")
    if match["unit"] == "ms" and not metric.endswith("_ms"):
        raise UsageError(f"bad --fail-if {text!r}: {metric} is not in milliseconds",
                         hint="give the amount in % or in the metric's own unit (error_rate is a fraction: 0.01 = 1 %)")
    return Gate(text, metric, (match["window"] or "run").strip(), 1 if match["sign"] == "+" else -1,
                float(match["amount"]), match["unit"] == "%")


def parse_gates(texts: Iterable[str]) -> list[Gate]:
    return [parse_gate(t) for t in texts]


def relative_change(a: float, b: float) -> float:
    """(B − A) / |A| in %; from zero, any rise is +inf and any fall −inf."""
    if a == 0:
        return 0.0 if b == 0 else math.copysign(math.inf, b)
    return (b - a) / abs(a) * 100.0


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    a: float | None
    b: float | None
    tripped: bool
    reason: str


def evaluate_gate(gate: Gate, a: float | None, b: float | None) -> GateResult:
    where = f"{gate.metric}@{gate.window}"
    if a is None or b is None:
        missing = " and ".join(r for r, v in (("A", a), ("B", b)) if v is None)
        return GateResult(gate, a, b, True, f"{where}: no value in run {missing} (a gate never passes on missing data)")
    change = relative_change(a, b) if gate.relative else b - a
    tripped = change > gate.amount if gate.direction > 0 else change < -gate.amount
    unit = " %" if gate.relative else (" ms" if gate.metric.endswith("_ms") else "")
    limit = f"{'+' if gate.direction > 0 else '-'}{gate.amount:g}{unit}"
    shown = f"{change:+.1f} %" if gate.relative else f"{change:+.4g}{unit}"
    verdict = "tripped" if tripped else "ok"
    return GateResult(gate, a, b, tripped, f"{where}: {a:.4g} → {b:.4g} ({shown}), limit {limit}: {verdict}")


# --------------------------------------------------------------------------- deltas (pure)
@dataclass(frozen=True)
class Delta:
    window: str
    metric: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def delta_pct(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        change = relative_change(self.a, self.b)
        return change if math.isfinite(change) else None


@dataclass(frozen=True)
class CheckDelta:
    name: str
    metric: str
    window: Any
    a: float | None
    b: float | None
    a_passed: bool | None  # None: the check is not in that run
    b_passed: bool | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def delta_pct(self) -> float | None:
        return Delta("", self.metric, self.a, self.b).delta_pct


@dataclass
class CompareResult:
    run_a: str
    run_b: str
    summary_a: dict[str, Any]
    summary_b: dict[str, Any]
    windows: list[Delta]
    checks: list[CheckDelta]
    gates: list[GateResult]
    windows_only_in_a: list[str] = field(default_factory=list)
    windows_only_in_b: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def tripped(self) -> list[GateResult]:
        return [g for g in self.gates if g.tripped]

    @property
    def failed(self) -> bool:
        """True when a regression gate tripped (the CLI exits 1)."""
        return bool(self.tripped)


def window_names(summary: dict[str, Any]) -> list[str]:
    from faultdrill.report.format import window_sort_key

    return [name for name, _ in sorted(summary.get("windows", {}).items(), key=window_sort_key)]


def compare_summaries(a: dict[str, Any], b: dict[str, Any], gates: Sequence[Gate] = ()) -> CompareResult:
    wa, wb = a.get("windows", {}), b.get("windows", {})
    names = [n for n in window_names(a) if n in wb]
    deltas = [Delta(n, m, wa[n].get(m), wb[n].get(m)) for n in names for m in COMPARED_METRICS]
    checks_a = {c["name"]: c for c in a.get("checks", [])}
    checks_b = {c["name"]: c for c in b.get("checks", [])}
    checks = []
    for name in list(checks_a) + [n for n in checks_b if n not in checks_a]:
        ca, cb = checks_a.get(name), checks_b.get(name)
        some = ca or cb or {}
        checks.append(CheckDelta(name, str(some.get("metric", "")), some.get("window"),
                                 ca.get("value") if ca else None, cb.get("value") if cb else None,
                                 ca.get("passed") if ca else None, cb.get("passed") if cb else None))
    results = [evaluate_gate(g, wa.get(g.window, {}).get(g.metric), wb.get(g.window, {}).get(g.metric))
               for g in gates]
    return CompareResult(str(a.get("run_id")), str(b.get("run_id")), a, b, deltas, checks, results,
                         [n for n in window_names(a) if n not in wb], [n for n in window_names(b) if n not in wa])


# --------------------------------------------------------------------------- files (I/O at the edge)
def _run_dir(path: Path | RunDir) -> RunDir:
    run_dir = path if isinstance(path, RunDir) else RunDir(Path(path))
    if not run_dir.path.is_dir():
        raise UsageError(f"{run_dir.path} is not a directory", hint="give two run directories, e.g. results/<run id>")
    if not run_dir.summary_json.is_file():
        raise UsageError(f"{run_dir.path} has no summary.json",
                         hint=f"write it with `faultdrill report {run_dir.path}`, or check this is a run directory")
    return run_dir


def _same_schema(a: RunDir, summary_a: dict[str, Any], b: RunDir, summary_b: dict[str, Any]) -> None:
    """Runs judged by different summary schemas mean different things by the same key (p95_ms of
    all requests in version 1, of successful ones in 2): comparing them would mislead."""
    sa, sb = summary_a.get("schema"), summary_b.get("schema")
    if sa != sb:
        old = a if str(sa) < str(sb) else b
        raise UsageError(f"{a.run_id} has summary schema {sa} and {b.run_id} has {sb}: their numbers mean "
                         "different things", hint=f"re-judge the older run first: faultdrill report {old.path}")


def noise_aware_gates(gates: Sequence[Gate], baselines: Sequence[dict[str, Any]],
                      b: dict[str, Any]) -> list[GateResult]:
    """Gates against several baseline runs: B's value against their median and spread (MAD) — trips
    only beyond the bound and outside the noise band (``faultdrill.history.gate``)."""
    from faultdrill.history.gate import SeriesGate, judge

    results = []
    for gate in gates:
        values = [s.get("windows", {}).get(gate.window, {}).get(gate.metric) for s in baselines]
        verdict = judge(SeriesGate(gate.text, gate, None), b.get("windows", {}).get(gate.window, {}).get(gate.metric),
                        values)
        results.append(GateResult(gate, verdict.spread.median if verdict.spread else None, verdict.newest,
                                  verdict.tripped, verdict.reason))
    return results


def compare_runs(run_a: Path | RunDir, run_b: Path | RunDir, fail_if: Sequence[str] = (),
                 out_dir: Path | None = None, *, plots: bool = True,
                 more_baselines: Sequence[Path | RunDir] = ()) -> CompareResult:
    """Compare run B against run A (the reference); write ``compare.png`` (both runs' story figures
    overlaid, ``compare_story.py``), ``compare.md`` and ``compare.html`` (the same figure, interactive,
    and the two runs' checks side by side) into ``out_dir`` (default: ``<run B>/compare-<run A id>``).

    Gates are parsed before anything is read, so a typo fails fast with exit code 2. With
    ``more_baselines`` (older reference runs beside A), the gates are noise-aware: B against the
    median and spread of A and those runs, not against A alone; deltas and plots stay B against A.
    """
    from faultdrill.report.compare_render import render_compare_html, render_compare_markdown
    from faultdrill.report.compare_story import compare_figure
    from faultdrill.report.data import load_run_data, read_json_file
    from faultdrill.report.figure_png import write_figure_png

    gates = parse_gates(fail_if)
    a, b = _run_dir(run_a), _run_dir(run_b)
    summary_a, summary_b = read_json_file(a.summary_json), read_json_file(b.summary_json)
    _same_schema(a, summary_a, b, summary_b)
    result = compare_summaries(summary_a, summary_b, gates)
    if more_baselines:
        others = [_run_dir(p) for p in more_baselines]
        summaries = [read_json_file(o.summary_json) for o in others]
        for other, summary in zip(others, summaries):
            _same_schema(other, summary, b, summary_b)
        result.gates = noise_aware_gates(gates, [*summaries, summary_a], summary_b)
    out = out_dir or b.path / f"compare-{a.run_id}"
    out.mkdir(parents=True, exist_ok=True)
    png = figure = None
    if plots:
        figure = compare_figure(load_run_data(a), summary_a, load_run_data(b), summary_b,
                                f"Incident vs fix — A = {a.run_id} (blue), B = {b.run_id} (orange)")
        if figure.charts:
            png = write_figure_png(figure, out / "compare.png")
            result.files["png"] = png
    md = out / "compare.md"
    md.write_text(render_compare_markdown(result, "compare.png" if png else None), encoding="utf-8")
    result.files["markdown"] = md
    html = out / "compare.html"
    html.write_text(render_compare_html(result, png, figure), encoding="utf-8")
    result.files["html"] = html
    return result
