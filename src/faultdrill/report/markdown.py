"""``summary.md``: what a PR comment or a retrospective would paste (pure). Its one image is the story
figure (``story.png``, beside it in the run directory), linked under the verdict when it was drawn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faultdrill.report.format import (
    bound,
    check_mark,
    check_target,
    detection_note,
    fault_end,
    metric_value,
    ms,
    number,
    rate,
    seconds,
    spans,
    verdict_line,
    window_label,
    window_sort_key,
)


def cell(text: object) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def windows_table(windows: dict[str, dict[str, Any]]) -> list[str]:
    """p50 … p99 are of successful requests; "p95 all" includes failed ones; an empty window says so."""
    open_model = any(w.get("intended") is not None for w in windows.values())
    rows = []
    for name, w in sorted(windows.items(), key=window_sort_key):
        if w.get("empty"):
            rows.append([name, spans(w), "empty", "", "", "", "", "", ""] + (["", ""] if open_model else [])
                        + [w.get("note", "")])
            continue
        row = [name, spans(w), number(w.get("requests")), rate(w.get("error_rate")), number(w.get("rps")),
               ms(w.get("p50_ms")), ms(w.get("p95_ms")), ms(w.get("p99_ms")), ms(w.get("all_p95_ms"))]
        if open_model:
            row += [number(w.get("dropped")), number(w.get("late"))]
        rows.append(row + [w.get("note", "")])
    header = ["window", "span", "requests", "errors", "rps", "p50 ok", "p95 ok", "p99 ok", "p95 all"]
    return table(header + (["dropped", "late"] if open_model else []) + ["note"], rows)


def render_markdown(summary: dict[str, Any], problems: Sequence[str] = (), story_png: str | None = None) -> str:
    """``problems``: run.json's (sampler gaps, heal failures), listed right under the verdict;
    ``story_png``: the story figure's path relative to summary.md (linked first when given)."""
    icon = {"passed": "✅", "failed": "❌"}.get(str(summary.get("verdict")), "⚠️")
    lines = [f"## {icon} faultdrill · {summary.get('scenario')} — {verdict_line(summary)}", "",
             f"Run `{summary.get('run_id')}` · status **{summary.get('status')}** · "
             f"{seconds(summary.get('duration_s'))} of load", ""]
    if story_png:
        lines += [f"![What happened: latency, traffic, errors, saturation]({story_png})", ""]
    aborted = summary.get("aborted")
    if aborted:
        lines += [f"**Aborted** at {seconds(aborted.get('at'))}: {aborted.get('detail')}", ""]
    for lost in summary.get("workers_lost") or []:
        lines += [f"**Degraded**: load worker {lost.get('worker')} ({lost.get('host')}) was lost at "
                  f"{seconds(lost.get('at'))}: {lost.get('why')}", ""]
    if problems:
        lines += ["### Problems in this run", ""] + [f"- ⚠️ {cell(p)}" for p in problems] + [""]
    checks = summary.get("checks", [])
    if checks:
        lines += ["### Checks", ""]
        lines += table(["", "check", "window", "metric", "value", "bound", "reason"], [
            ["✅" if c.get("passed") else ("⚠️ misconfigured" if check_mark(c) == "misconfigured" else "❌"), c.get("name"), window_label(c.get("window")), check_target(c),
             metric_value(str(c.get("metric", "")), c.get("value")), bound(c), c.get("reason", "")]
            for c in checks])
        lines.append("")
    not_judged = summary.get("checks_not_judged", [])
    if not_judged:
        lines += ["### Checks not judged", ""]
        lines += [f"- ⚠️ {c.get('name')} ({c.get('metric')}, window {window_label(c.get('window'))})"
                  for c in not_judged]
        lines.append("")
    detection = [d for d in summary.get("detection", []) if d.get("note") not in ("held", "not_detected")]
    if detection:
        lines += ["### Time to detect / recover", ""]
        lines += table(["fault", "check", "kind", "detected / shown after", "recovered / gone after heal", "note"], [
            [d.get("fault"), d.get("check"), d.get("role", "slo"), seconds(d.get("time_to_detect_s")),
             seconds(d.get("time_to_recover_s")), detection_note(d)] for d in detection])
        lines.append("")
    windows = summary.get("windows", {})
    if windows:
        lines += ["### Windows", ""] + windows_table(windows) + [""]
    faults = summary.get("faults", [])
    missing = summary.get("faults_not_started", [])
    if faults or missing:
        lines += ["### Faults", ""]
        rows = [[f.get("name"), _planned(f), f"{seconds(f.get('start'))} → {fault_end(f)}",
                 f.get("stop_reason") or ""] for f in faults]
        rows += [[f.get("name"), _planned(f), "never started", ""] for f in missing]
        lines += table(["fault", "planned", "real", "stopped by"], rows) + [""]
    errors = windows.get("run", {}).get("errors", {}) if windows else {}
    if errors:
        lines += ["### Errors (whole run)", ""]
        lines += table(["kind", "count"], [[k, number(v)] for k, v in list(errors.items())[:10]]) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _planned(fault: dict[str, Any]) -> str:
    end = fault.get("planned_end")
    return f"{seconds(fault.get('planned_start'))} → {seconds(end) if end is not None else 'end of run'}"
