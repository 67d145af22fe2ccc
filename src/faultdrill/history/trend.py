"""``faultdrill history``: the trend of a scenario's runs — a table, a PNG, and noise-aware gates.

The library side: read the index (``store``), pick the runs, judge the gates (``gate``), draw the
plot. The CLI prints what this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faultdrill.errors import UsageError
from faultdrill.history.gate import NoiseVerdict, SeriesGate, judge, parse_series_gate
from faultdrill.history.store import HistoryStore, open_history

COMPARABLE = ("passed", "failed")  # runs whose numbers are judged; others never enter a reference


@dataclass(frozen=True)
class TrendRun:
    run_id: str
    started: str
    git_sha: str
    status: str
    note: str
    values: dict[str, float | None]  # series label → value


@dataclass
class Trend:
    scenario: str
    series: list[str]  # column order: checks, then gated window figures
    runs: list[TrendRun]  # oldest first
    verdicts: list[NoiseVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    png: Path | None = None

    @property
    def failed(self) -> bool:
        return any(v.tripped for v in self.verdicts)


def build_trend(store: HistoryStore, scenario: str | None, check: str | None, last: int,
                gates: Sequence[SeriesGate]) -> Trend:
    notes = list(store.notes)
    if scenario is None:
        everything = store.runs()
        if not everything:
            raise UsageError(f"no runs in {store.path.parent}", hint="run a drill first, or point --results at "
                                                                     "the directory the runs were written to")
        scenario = everything[-1]["scenario"]
        others = [s for s in store.scenarios() if s != scenario]
        if others:
            notes.append(f"showing scenario {scenario!r} (the newest run's); also indexed: {', '.join(others)}")
    rows = store.runs(scenario)
    if not rows:
        raise UsageError(f"no runs of scenario {scenario!r} in {store.path.parent}",
                         hint=f"indexed scenarios: {', '.join(store.scenarios()) or 'none'}")
    rows = rows[-last:]
    names: list[str] = []
    for r in rows:
        for name in store.check_values(r["run_id"]):
            if name not in names:
                names.append(name)
    if check is not None:
        if check not in names:
            raise UsageError(f"no check named {check!r} in the runs of {scenario!r}",
                             hint=f"checks recorded: {', '.join(names) or 'none'}")
        names = [check]
    for gate in gates:
        if gate.check and gate.check not in names:
            if check is None:
                raise UsageError(f"--fail-if {gate.text!r}: no check named {gate.check!r} in the runs of "
                                 f"{scenario!r}", hint=f"checks recorded: {', '.join(names) or 'none'}")
            names.append(gate.check)
    series = list(names) + [g.label for g in gates if not g.check and g.label not in names]
    runs = []
    for r in rows:
        checks = store.check_values(r["run_id"])
        values = {n: checks.get(n, (None, ""))[0] for n in names}
        for g in gates:
            if not g.check:
                values[g.label] = store.window_value(r["run_id"], g.gate.window, g.gate.metric)
        runs.append(TrendRun(r["run_id"], r["started"] or "", r["git_sha"] or "", r["status"], r["note"] or "",
                             values))
    verdicts = []
    if gates:
        newest, previous = runs[-1], [r for r in runs[:-1] if r.status in COMPARABLE]
        for g in gates:
            verdicts.append(judge(g, newest.values.get(g.label if not g.check else g.check),
                                  [r.values.get(g.label if not g.check else g.check) for r in previous]))
    return Trend(scenario, series, runs, verdicts, notes)


def history(results: Path, scenario: str | None = None, check: str | None = None, last: int = 10,
            fail_if: Sequence[str] = (), png: Path | None = None, *, plot: bool = True) -> Trend:
    """Index what is new under ``results``, build the trend of the last ``last`` runs, judge the
    gates (the newest run against the others), write the trend PNG (default ``results/history-<scenario>.png``)."""
    gates = [parse_series_gate(t) for t in fail_if]  # a typo fails before anything is read
    if last < 2 and gates:
        raise UsageError(f"--last {last}: a gate needs the newest run and at least one before it",
                         hint="use --last 2 or more (default 10)")
    if last < 1:
        raise UsageError(f"--last {last}: must be at least 1")
    if not results.is_dir():
        raise UsageError(f"{results} is not a directory", hint="point --results at where the run directories are")
    with open_history(results) as store:
        trend = build_trend(store, scenario, check, last, gates)
    if plot and trend.series:
        from faultdrill.history.plot import write_trend_png

        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in trend.scenario)
        trend.png = write_trend_png(trend, png or results / f"history-{safe}.png")
    return trend


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def trend_lines(trend: Trend) -> list[str]:
    """The trend table as text: one row per run, oldest first; the gates' verdict on the newest row."""
    head = ["when (UTC)", "git sha", "status", *trend.series]
    body = []
    for r in trend.runs:
        row = [r.started[:19].replace("T", " "), r.git_sha[:12] or "–", r.status,
               *(_fmt(r.values.get(s)) for s in trend.series)]
        body.append(row)
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = [f"scenario {trend.scenario}: {len(trend.runs)} run(s)",
             "  ".join(h.ljust(w) for h, w in zip(head, widths))]
    for i, (row, r) in enumerate(zip(body, trend.runs)):
        line = "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
        if r.note and r.status not in ("passed", "failed"):
            line += f"   ({r.note})"
        if i == len(body) - 1 and trend.verdicts:
            tripped = [v.gate.text for v in trend.verdicts if v.tripped]
            line += f"   ← gate: {'TRIPPED ' + ', '.join(tripped) if tripped else 'held'}"
        body_line = line
        lines.append(body_line)
    return lines
