"""Formatting numbers and summary entries for people (shared by the HTML, Markdown and JUnit writers). Pure."""

from __future__ import annotations

from typing import Any

WINDOW_ORDER = {"ramp": -1, "baseline": 0, "fault": 2, "recovery": 3, "run": 4}
LATENCY_OF = {"successful": "successful requests", "all": "all requests"}


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def rate(value: float | None) -> str:
    """An error rate (a fraction) as a percentage."""
    if value is None:
        return "–"
    pct = value * 100
    if pct == 0:
        return "0 %"
    if pct < 0.1:
        return f"{pct:.3f} %"
    return f"{pct:.2f} %" if pct < 10 else f"{pct:.1f} %"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def metric_value(metric: str, value: float | None) -> str:
    """A check's value in the unit its metric implies (``*_ms`` in ms, ``error_rate`` as %, else plain)."""
    if value is None:
        return "–"
    if metric.endswith("_ms"):
        return ms(value)
    if metric == "error_rate":
        return rate(value)
    return f"{value:g}"


def window_label(window: Any) -> str:
    """A check's window: a name, or an explicit span (``{"from": 30, "to": 60}`` or an object with from_/to)."""
    if isinstance(window, str):
        return window
    if isinstance(window, dict):
        start, end = window.get("from", window.get("from_")), window.get("to")
    else:
        start, end = getattr(window, "from_", None), getattr(window, "to", None)
    if start is None or end is None:
        return str(window)
    return f"{start:g}–{end:g} s"


def bound(check: dict[str, Any]) -> str:
    metric = str(check.get("metric", ""))
    lo, hi = check.get("min"), check.get("max")
    parts = []
    if lo is not None:
        parts.append(f"≥ {metric_value(metric, lo)}")
    if hi is not None:
        parts.append(f"≤ {metric_value(metric, hi)}")
    return " and ".join(parts) or "–"


def check_target(check: dict[str, Any]) -> str:
    """The metric a check judged, with its request name if it is limited to one, and — for latency —
    whether it judged successful requests or all of them."""
    metric = str(check.get("metric", ""))
    parts = [p for p in (check.get("request"), check.get("profile") and f"profile {check['profile']}",
                         LATENCY_OF.get(str(check.get("latency_of")))) if p]
    return f"{metric} ({', '.join(parts)})" if parts else metric


def check_mark(check: dict[str, Any]) -> str:
    if check.get("outcome") == "misconfigured":
        return "misconfigured"
    return "pass" if check.get("passed") else "fail"


def spans(window: dict[str, Any]) -> str:
    """A window's time: ``1.0–20.0, 30.0–35.0 s``; ``empty`` when it has no second in it."""
    parts = window.get("spans") or ([[window["start"], window["end"]]] if window.get("start") is not None else [])
    if not parts:
        return "empty"
    return ", ".join(f"{a:.1f}–{b:.1f}" for a, b in parts) + " s"


def fault_end(fault: dict[str, Any]) -> str:
    return seconds(fault.get("end")) if fault.get("healed", True) else "did not end"


def detection_note(row: dict[str, Any]) -> str:
    """What a detection row says, in words: the note, the heal that ended the breach, the overlaps."""
    words = [str(row.get("note", "")).replace("_", " ")]
    if row.get("recovered_after") and row.get("recovered_after") != row.get("fault"):
        words.append(f"recovered after '{row['recovered_after']}' was healed")
    if row.get("overlaps"):
        words.append("overlapped " + ", ".join(f"'{n}'" for n in row["overlaps"]))
    return "; ".join(w for w in words if w)


def window_sort_key(item: tuple[str, dict[str, Any]]) -> tuple[int, float, str]:
    name, stats = item
    order = WINDOW_ORDER.get(name, 1)  # named fault windows sit between baseline and "fault"
    start = stats.get("start")
    return order, start if start is not None else 0.0, name


def verdict_line(summary: dict[str, Any]) -> str:
    status = summary.get("status")
    checks = summary.get("checks", [])
    failed = [c for c in checks if not c.get("passed")]
    if status != "completed":
        why = f": {summary['error']}" if summary.get("error") else ""
        return f"{str(status).upper()} — the run did not complete{why}; checks were not judged"
    if not checks:
        return "PASSED — the run completed (no checks defined)"
    misconfigured = [c for c in failed if c.get("outcome") == "misconfigured"]
    if misconfigured:
        return (f"FAILED — {len(failed)} of {len(checks)} checks failed, {len(misconfigured)} of them misconfigured "
                "(they name something this run never had)")
    if failed:
        return f"FAILED — {len(failed)} of {len(checks)} checks failed"
    return f"PASSED — all {len(checks)} checks passed"
