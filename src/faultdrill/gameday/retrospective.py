"""``retrospective.md``: the draft a team fills in after a game day (pure: events + summary in, text out).

Sections follow the seed's response process — detect → propagate → assess → recover → analyse →
share → retrospective: timeline, time to detect / to mitigate / to recover (by the system and by
the humans), which checks broke, what the curves showed, and the parts only people can write.
"""

from __future__ import annotations

from typing import Any

HUMAN_STEPS = ("detected", "alerted", "assessed", "mitigated", "resolved")


def _first(events: list[dict[str, Any]], after: float, **match: Any) -> dict[str, Any] | None:
    for event in events:
        if event["t"] >= after and all(event.get(k) == v for k, v in match.items()):
            return event
    return None


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def timeline_rows(events: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    """(t, wall, what) for the events a retrospective cares about, in run-clock order."""
    rows = []
    for e in events:
        kind = e["kind"]
        if e.get("t") is None or kind.startswith("stack.") or kind in ("recovery",):
            continue
        if kind == "fault.start":
            what = f"fault **{e['fault']}** started" + (" (by hand)" if e.get("manual") else "")
        elif kind == "fault.stop":
            what = f"fault **{e['fault']}** healed ({e.get('reason', '')})"
        elif kind == "fault.revealed":
            what = f"fault **{e['fault']}** revealed to responders"
        elif kind == "check.breached":
            what = f"check breached: {e['detail']}"
        elif kind == "check.recovered":
            what = f"check recovered: {e['check']}"
        elif kind == "alert.fired":
            what = f"alert fired: {e['check']}"
        elif kind == "annotation":
            what = (f"responders: **{e['annotation']}**" + (f" ({e['by']})" if e.get("by") else "")
                    + (f" — {e['text']}" if e.get("text") else ""))
        elif kind in ("timeline.paused", "timeline.resumed"):
            what = f"the facilitator {kind.split('.')[1]} the timeline"
        elif kind in ("run.start", "run.end", "run.stopped", "run.aborted", "run.interrupted"):
            what = kind.replace("run.", "drill ") + (f": {e.get('reason') or e.get('detail') or ''}".rstrip(": "))
        else:
            continue
        rows.append((float(e["t"]), str(e.get("wall", "")), what))
    return rows


def key_times(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fault: when the system and the humans detected, mitigated and recovered."""
    out = []
    for start in (e for e in events if e["kind"] == "fault.start"):
        t0 = float(start["t"])
        stop = _first(events, t0, kind="fault.stop", fault=start["fault"])
        system = _first(events, t0, kind="check.breached")
        alert = _first(events, t0, kind="alert.fired")
        human = {step: _first(events, t0, kind="annotation", annotation=step) for step in HUMAN_STEPS}
        recovered = _first(events, float(stop["t"]) if stop else t0, kind="check.recovered") if system else None
        out.append({
            "fault": start["fault"],
            "start": t0,
            "end": float(stop["t"]) if stop else None,
            "system_detect_s": None if system is None else float(system["t"]) - t0,
            "alert_s": None if alert is None else float(alert["t"]) - t0,
            **{f"human_{step}_s": None if ev is None else float(ev["t"]) - t0 for step, ev in human.items()},
            "recover_s": None if recovered is None or stop is None else max(0.0, float(recovered["t"]) - float(stop["t"])),
        })
    return out


def marks_section(events: list[dict[str, Any]]) -> list[str]:
    """Who marked what, when: the responders' own record (web console, keys, ``faultdrill annotate``)."""
    marks = [e for e in events if e.get("kind") == "annotation" and e.get("t") is not None]
    if not marks:
        return []
    out = ["", "## Responders' marks", "", "| t | who | mark | note |", "|---:|---|---|---|"]
    for e in marks:
        who = e.get("by") or ("facilitator's terminal" if e.get("source") == "keys" else "—")
        text = str(e.get("text") or "").replace("|", "\\|")
        out.append(f"| {float(e['t']):.0f} s | {who} | {e.get('annotation')} | {text} |")
    return out


def render_retrospective(summary: dict[str, Any], events: list[dict[str, Any]], scenario_name: str) -> str:
    lines = [f"# Retrospective — {scenario_name}", "",
             f"Run `{summary.get('run_id', '?')}` · status **{summary.get('status', '?')}** · "
             f"{'all checks passed' if summary.get('passed') else 'checks failed or the drill did not complete'}", ""]
    lines += ["## Timeline", "", "| t | wall clock | what |", "|---:|---|---|"]
    for t, wall, what in timeline_rows(events):
        lines.append(f"| {t:.0f} s | {wall[11:19] if len(wall) >= 19 else wall} | {what} |")
    lines += marks_section(events)
    lines += ["", "## Time to detect, mitigate, recover", "",
              "| fault | system detected | alert | humans detected | assessed | mitigated | resolved | recovered after heal |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k in key_times(events):
        lines.append(f"| {k['fault']} | {_secs(k['system_detect_s'])} | {_secs(k['alert_s'])} | "
                     f"{_secs(k['human_detected_s'])} | {_secs(k['human_assessed_s'])} | "
                     f"{_secs(k['human_mitigated_s'])} | {_secs(k['human_resolved_s'])} | {_secs(k['recover_s'])} |")
    lines += ["", "Times are from each fault's start (recovery: from its heal), on the run's single clock.", "",
              "## Checks", ""]
    checks = summary.get("checks") or []
    if not checks:
        lines.append("No checks were judged.")
    for c in checks:
        lines.append(f"- {'✅' if c['passed'] else '❌'} **{c['name']}** ({c['window']}): {c['reason']}")
    lines += ["", "## What the curves showed", "", "| window | requests | error rate | p50 ms | p95 ms | p99 ms |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, w in (summary.get("windows") or {}).items():
        rate = "—" if w.get("error_rate") is None else f"{w['error_rate']:.2%}"
        lines.append(f"| {name} | {w.get('requests', 0)} | {rate} | {w.get('p50_ms') or '—'} | "
                     f"{w.get('p95_ms') or '—'} | {w.get('p99_ms') or '—'} |")
    lines += ["", "See `report.html` / `latency.png` in this run directory for the curves.", "",
              "## Cause", "", "_What failed, and why — down to the low level, with what monitoring captured._", "",
              "## Response", "", "_How it was detected, who was told, how severity was assessed, what was done._", "",
              "## What went well / what did not", "", "- ", "",
              "## Follow-ups", "", "| action | owner | due |", "|---|---|---|", "|  |  |  |", ""]
    return "\n".join(lines)
