"""Finding and undoing what a killed run left: faults its journal never reverted, labelled Docker objects.

A run is *dead* when its ``run.json`` names a process that no longer exists on this host (or is
not ``running`` any more). ``faultdrill run`` recovers dead runs only, so two drills can run side by
side; ``faultdrill clean`` recovers every run it is pointed at. Each journal entry is healed on its own:
one that cannot be healed is reported and never stops the others, nor the removal of the stack.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from docker import DockerClient
from faultdrill.errors import FaultdrillError
from faultdrill.faults.healing import entry_name, revert_recorded
from faultdrill.faults.journal import Journal, pending


def run_is_dead(run_dir: Path) -> bool:
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    if record.get("status") != "running":
        return True
    owner = record.get("owner") or {}
    if owner.get("hostname") != socket.gethostname() or not owner.get("pid"):
        return False  # another host's run: not ours to judge
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Healing:
    """What became of one pending journal entry."""

    run_id: str
    what: str
    state: Literal["healed", "nothing left", "failed"]
    detail: str
    hint: str | None = None

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    def line(self) -> str:
        label = {"healed": "healed", "nothing left": "nothing left to heal", "failed": "could not heal"}[self.state]
        return f"{label}: {self.run_id}: {self.what}: {self.detail}" + (f" ({self.hint})" if self.hint else "")


def heal_journal(journal_path: Path, docker_client: DockerClient | None = None) -> list[Healing]:
    """Undo every pending action of one run's journal, newest first, each on its own.

    One entry failing never stops the others. A healed or vanished fault gets a ``revert`` line;
    a failed one a ``heal_failed`` line and stays pending, to be tried again next time.
    """
    actions = pending(journal_path)
    if not actions:
        return []
    with Journal(journal_path) as journal:
        return [_heal_one(journal, journal_path.parent.name, action, docker_client) for action in reversed(actions)]


def _heal_one(journal: Journal, run_id: str, action: dict[str, Any], docker_client: DockerClient | None) -> Healing:
    what = entry_name(action)
    try:
        reverted = revert_recorded(action, docker_client=docker_client)
    except Exception as exc:
        message = exc.message if isinstance(exc, FaultdrillError) else f"{type(exc).__name__}: {exc}"
        hint = exc.hint if isinstance(exc, FaultdrillError) else None
        journal.record("heal_failed", {**action, "error": message})
        return Healing(run_id, what, "failed", message, hint)
    journal.record("revert", {**action, "recovered": reverted.detail})
    return Healing(run_id, what, "healed" if reverted.healed else "nothing left", reverted.detail)


def recover_pending(results_dir: Path, only_dead: bool = False,
                    docker_client: DockerClient | None = None, skip: Collection[str] = ()) -> list[Healing]:
    """Heal pending faults of the runs under ``results_dir`` (only those of dead runs if asked), but
    not those of the runs in ``skip`` (their reaper is at it)."""
    done: list[Healing] = []
    if not results_dir.is_dir():
        return done
    for journal_path in sorted(results_dir.glob("*/journal.jsonl")):
        if journal_path.parent.name in skip or (only_dead and not run_is_dead(journal_path.parent)):
            continue
        done += heal_journal(journal_path, docker_client)
    return done


def dead_runs(results_dir: Path) -> list[str]:
    """Run ids under ``results_dir`` that never finished and whose process is gone."""
    if not results_dir.is_dir():
        return []
    out = []
    for run_json in sorted(results_dir.glob("*/run.json")):
        try:
            status = json.loads(run_json.read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            continue
        if status == "running" and run_is_dead(run_json.parent):
            out.append(run_json.parent.name)
    return out


def mark_crashed(results_dir: Path, run_id: str) -> None:
    path = results_dir / run_id / "run.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["status"] = "crashed"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
