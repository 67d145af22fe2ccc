"""``events.jsonl``: what happened when, on the run clock (faults, stack, load, the run itself)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from faultdrill.clock import RunClock


class EventLog:
    def __init__(self, path: Path, clock: RunClock) -> None:
        self.clock = clock
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the object's life, closed in close()
        self._lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        t = self.clock.now()
        event = {"t": round(t, 3), "wall": self.clock.wall(t), "kind": kind, **fields}
        with self._lock:
            self._fh.write(json.dumps(event, default=str) + "\n")
            self._fh.flush()
        return event

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash
    return events
