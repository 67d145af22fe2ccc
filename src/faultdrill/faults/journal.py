"""``journal.jsonl``: every change to the target, written *before* it is applied.

An ``apply`` line without a matching ``revert`` line is a fault that may still be active
(``update`` and ``heal_failed`` lines say what happened to it meanwhile, and do not close it):
the run's own ``finally`` reverts it, and a later ``faultdrill clean`` or ``run`` finds it
if the run was killed before it could.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Entry:
    seq: int
    op: str  # "apply" | "revert"
    action: dict[str, Any]


class Journal:
    def __init__(self, path: Path, tee: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.path = path
        self.tee = tee  # also given every line once it is on disk (the reaper's live copy)
        self._seq = sum(1 for _ in _lines(path))
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the object's life, closed in close()

    def record(self, op: str, action: dict[str, Any], t: float | None = None) -> int:
        self._seq += 1
        line = {"seq": self._seq, "op": op, "t": t, "action": action}
        self._fh.write(json.dumps(line) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        if self.tee is not None:
            self.tee(line)
        return self._seq

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            continue


def pending(path: Path) -> list[dict[str, Any]]:
    """Actions applied (or about to be) and never reverted, oldest first (pure over the file)."""
    open_actions: dict[str, dict[str, Any]] = {}
    for entry in _lines(path):
        key = json.dumps(entry["action"].get("key"), sort_keys=True)
        if entry["op"] == "apply":
            open_actions[key] = entry["action"]
        elif entry["op"] == "revert":
            open_actions.pop(key, None)
    return list(open_actions.values())
