"""What each role may see of the faults and the timeline — the one place hidden faults are filtered.

A hidden fault is not shown to responders at all until it is revealed: not its name, its kind or its
target, not in the fault list, the fault bands or the timeline. They see its symptoms (the curves,
the checks it breaks). Everything a responder's token can fetch is built by the functions here, and
:func:`scrub` is the last step before bytes leave for a responder: any hidden name still in them
(a check named after the fault, say) is replaced by the fault's placeholder.

Responder events are an allow-list: kinds and fields not listed here are never sent to a responder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faultdrill.console.access import Role

RESPONDER_EVENTS = frozenset({
    "run.start", "run.end", "run.stopped", "run.aborted", "fault.start", "fault.stop", "fault.revealed",
    "check.breached", "check.recovered", "alert.fired", "annotation", "timeline.paused", "timeline.resumed"})
RESPONDER_FIELDS = ("t", "wall", "kind", "fault", "fault_kind", "manual", "reason", "check", "metric", "since",
                    "detail", "annotation", "text", "by", "rule")


@dataclass(frozen=True)
class FaultInfo:
    """One fault as the facilitator knows it, with what a responder may be shown instead."""

    n: int
    name: str
    shown: str  # "hidden fault #2" until revealed, then "mystery (hidden fault #2)"; a visible fault: its name
    kind: str
    target: str
    hidden: bool  # hidden from responders right now (hidden and not yet revealed)
    manual: bool
    active: bool
    started_at: float | None
    stopped_at: float | None
    planned_at: float | None  # a scheduled fault's start on the timeline
    lasts: float | None  # its ``for``


def fault_rows(faults: Sequence[FaultInfo], role: Role, now: float, paused: bool) -> list[dict[str, Any]]:
    """The fault list a role sees. Responders: visible and revealed faults only, by their shown name."""
    rows = []
    for f in faults:
        if role is Role.RESPONDER:
            if f.hidden:
                continue
            rows.append({"n": f.n, "name": f.shown, "kind": f.kind, "active": f.active,
                         "started_at": f.started_at, "stopped_at": f.stopped_at})
            continue
        rows.append({"n": f.n, "name": f.name, "shown": f.shown, "kind": f.kind, "target": f.target,
                     "hidden": f.hidden, "manual": f.manual, "active": f.active, "started_at": f.started_at,
                     "stopped_at": f.stopped_at, "countdown": countdown(f, now, paused)})
    return rows


def countdown(f: FaultInfo, now: float, paused: bool) -> str:
    """The facilitator's line for a fault: when a scheduled one starts or ends."""
    if f.active:
        if f.lasts is not None and f.started_at is not None:
            left = f.started_at + f.lasts - now
            return "ends when the timeline resumes" if paused else f"ends in {max(left, 0):.0f} s"
        return "active until healed"
    if f.stopped_at is not None:
        return "healed"
    if f.manual:
        return "waits for inject"
    if f.planned_at is not None:
        if paused:
            return "timeline paused"
        left = f.planned_at - now
        return f"starts in {left:.0f} s" if left > 0 else "starting"
    return ""


def event_for(event: Mapping[str, Any], role: Role, faults: Sequence[FaultInfo]) -> dict[str, Any] | None:
    """One timeline event as a role sees it (None: not shown to that role)."""
    if role is Role.FACILITATOR:
        return dict(event)
    if event.get("kind") not in RESPONDER_EVENTS:
        return None
    by_name = {f.name: f for f in faults}
    out = {k: event[k] for k in RESPONDER_FIELDS if k in event}
    name = event.get("fault")
    if name is not None:
        fault = by_name.get(str(name))
        if fault is None or fault.hidden:
            return None
        out["fault"] = fault.shown
    return out


def events_for(events: Iterable[Mapping[str, Any]], role: Role, faults: Sequence[FaultInfo]) -> list[dict[str, Any]]:
    return [e for e in (event_for(event, role, faults) for event in events) if e is not None]


# Identifiers the console page reads from the frames (chart keys): a hidden name inside one would break the page.
CONSOLE_IDS = ("story-latency", "story-traffic", "story-errors", "story-saturation")


def scrub(text: str, faults: Sequence[FaultInfo]) -> str:
    """A responder's JSON with every still-hidden fault's name replaced by its placeholder inside its string
    values (never in keys, numbers or literals, so a fault named ``true`` or ``t`` cannot break the JSON)."""
    hidden = [(f.name, f.shown) for f in faults if f.hidden and f.name]
    if not hidden:
        return text
    return json.dumps(_scrub_value(json.loads(text), hidden), separators=(",", ":"))


def _scrub_value(value: Any, hidden: Sequence[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for name, shown in hidden:
            value = value.replace(name, shown)
        return value
    if isinstance(value, list):
        return [_scrub_value(v, hidden) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, hidden) for k, v in value.items()}
    return value


def unhideable(fault_names: Sequence[str], hidden: Sequence[bool], visible_names: Sequence[str]) -> list[str]:
    """Hidden faults whose name a responder must see anyway — inside a service's or proxy's name, which the
    console shows (services table, saturation lines), or inside an identifier the page reads (a chart's key).
    Such a fault cannot be hidden: say so before starting."""
    out = []
    for name, is_hidden in zip(fault_names, hidden):
        clashes = sorted(v for v in {*visible_names, *CONSOLE_IDS} if name and name in v)
        if is_hidden and clashes:
            out.append(f"hidden fault {name!r} is named like {', '.join(map(repr, clashes))}, which responders see "
                       "in the web console: give the fault a name of its own")
    return out
