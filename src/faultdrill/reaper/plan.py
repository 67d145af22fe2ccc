"""Pure parts of the reaper: what the harness told it, what is still active, and its record in words."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

NOUNS = {"toxic": ("toxic", "toxics"), "proxy": ("proxy change", "proxy changes"),
         "container": ("container fault", "container faults"), "sql": ("SQL lock holder", "SQL lock holders"),
         "stress": ("stress process group", "stress process groups"), "exec": ("exec fault", "exec faults"),
         "paused": ("paused container", "paused containers"), "stopped": ("stopped container", "stopped containers"),
         "started": ("started container", "started containers")}
CONTAINER_KINDS = {"pause": "paused", "stop": "stopped", "kill": "stopped", "start": "started"}


@dataclass
class Session:
    """Everything one harness connection said (fed message by message)."""

    run_id: str | None = None
    started_wall: float | None = None
    network: str | None = None
    toxiproxy_api: str | None = None  # as the harness reached it (the journal's "api")
    toxiproxy_internal: str | None = None  # as a container on the run network reaches it
    entries: list[dict[str, Any]] = field(default_factory=list)
    said_hello: bool = False
    done: bool = False

    def feed(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "hello":
            self.said_hello = True
            self.run_id = message.get("run_id") or self.run_id
            started = message.get("started_wall")
            self.started_wall = started if isinstance(started, (int, float)) else None
        elif kind == "clock" and isinstance(message.get("t0_wall"), (int, float)):
            self.started_wall = message["t0_wall"]  # the run clock's t=0
        elif kind == "stack":
            self.network = message.get("network")
            self.toxiproxy_api = message.get("toxiproxy_api")
            self.toxiproxy_internal = message.get("toxiproxy_internal")
        elif kind == "journal" and isinstance(message.get("entry"), dict):
            self.entries.append(message["entry"])
        elif kind == "done":
            self.done = True

    def pending(self) -> list[dict[str, Any]]:
        """Applied and never reverted, oldest first — the same rule as ``faults.journal.pending``."""
        return pending_actions(self.entries)

    def api_for(self, action: dict[str, Any]) -> str:
        """Where the reaper reaches the Toxiproxy an action was applied through."""
        api = action.get("api") or ""
        if self.toxiproxy_internal and (not self.toxiproxy_api or api == self.toxiproxy_api):
            return self.toxiproxy_internal
        return api


def pending_actions(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    open_actions: dict[str, dict[str, Any]] = {}
    for entry in entries:
        action = entry.get("action") or {}
        key = json.dumps(action.get("key"), sort_keys=True)
        if entry.get("op") == "apply":
            open_actions[key] = action
        elif entry.get("op") == "revert":
            open_actions.pop(key, None)
    return list(open_actions.values())


@dataclass(frozen=True)
class Outcome:
    """What became of one active fault: healed, nothing left (its target is gone), or failed."""

    action: dict[str, Any]
    state: str  # "healed" | "nothing left" | "failed"
    detail: str


def counted(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def summary_line(record: dict[str, Any]) -> str:
    """``reaped after the harness died at t=15.2 s: healed 1 toxic, removed 3 containers, 1 network``."""
    lost = record.get("harness_lost_at_s")
    when = f" at t={lost:.1f} s" if isinstance(lost, (int, float)) else ""
    cause = "the harness never connected" if record.get("never_connected") else f"the harness died{when}"
    parts: list[str] = []
    healed = [o for o in record.get("faults", []) if o.get("state") == "healed"]
    if healed:
        by_kind: dict[str, int] = {}
        for outcome in healed:
            kind = outcome.get("type", "?")
            if kind == "container":
                kind = CONTAINER_KINDS.get(str((outcome.get("action") or {}).get("action")), kind)
            by_kind[kind] = by_kind.get(kind, 0) + 1
        parts.append("healed " + ", ".join(counted(n, *NOUNS.get(k, (f"{k} fault", f"{k} faults")))
                                           for k, n in by_kind.items()))
    removed = record.get("removed", {})
    things = [counted(len(removed.get(kind, [])), kind[:-1], kind)
              for kind in ("containers", "networks", "volumes") if removed.get(kind)]
    if things:
        parts.append("removed " + ", ".join(things))
    failed = record.get("failed", [])
    if failed:
        parts.append(f"could not do {len(failed)} thing{'s' if len(failed) != 1 else ''}: {'; '.join(failed)}"
                     " (`faultdrill clean` retries)")
    return f"reaped after {cause}: {', '.join(parts) or 'nothing was left'}"
