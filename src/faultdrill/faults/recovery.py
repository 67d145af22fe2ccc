"""Finding and undoing what a killed run left: faults its journal never reverted, labelled Docker objects.

A run is *dead* when its ``run.json`` names a process that no longer exists on this host (or is
not ``running`` any more). ``faultdrill run`` recovers dead runs only, so two drills can run side by
side; ``faultdrill clean`` recovers every run it is pointed at.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from faultdrill.faults.actions import revert_recorded
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


def heal_journal(journal_path: Path) -> list[str]:
    """Revert every pending action of one run's journal; return what was done."""
    actions = pending(journal_path)
    done: list[str] = []
    if not actions:
        return done
    journal = Journal(journal_path)
    try:
        for action in reversed(actions):
            outcome = revert_recorded(action)
            journal.record("revert", {**action, "recovered": outcome})
            done.append(f"{journal_path.parent.name}: {action.get('type')} {action.get('toxic', '')}: {outcome}")
    finally:
        journal.close()
    return done


def recover_pending(results_dir: Path, only_dead: bool = False) -> list[str]:
    """Heal pending faults of the runs under ``results_dir`` (only those of dead runs if asked)."""
    done: list[str] = []
    if not results_dir.is_dir():
        return done
    for journal_path in sorted(results_dir.glob("*/journal.jsonl")):
        if only_dead and not run_is_dead(journal_path.parent):
            continue
        done += heal_journal(journal_path)
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
