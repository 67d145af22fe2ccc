"""Finding and reverting faults that a killed run left applied (its journal has no ``revert``)."""

from __future__ import annotations

from pathlib import Path

from faultdrill.faults.actions import revert_recorded
from faultdrill.faults.journal import Journal, pending


def recover_pending(results_dir: Path) -> list[str]:
    """Revert every pending action of every run under ``results_dir``; return what was done."""
    done: list[str] = []
    if not results_dir.is_dir():
        return done
    for journal_path in sorted(results_dir.glob("*/journal.jsonl")):
        actions = pending(journal_path)
        if not actions:
            continue
        journal = Journal(journal_path)
        try:
            for action in reversed(actions):
                outcome = revert_recorded(action)
                journal.record("revert", {**action, "recovered": outcome})
                done.append(f"{journal_path.parent.name}: {action.get('type')} {action.get('toxic', '')}: {outcome}")
        finally:
            journal.close()
    return done
