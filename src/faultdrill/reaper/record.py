"""The reaper's record (``reaper.json``) and what it changes in a run directory.

``apply_record`` is the one place a record reaches the run's files: it appends the reaper's heals
to ``journal.jsonl`` as ``revert`` lines (``"by": "reaper"``, so ``faultdrill clean`` does not redo
them; failures as ``heal_failed``, left for ``clean`` to retry) and marks ``run.json``: status
``crashed``, ``reaped`` with what the reaper did (a plugin's fault, which the reaper cannot heal, gets
no line: it stays pending for ``clean``), and a problem line the report shows. The reaper
calls it itself when it was given the run directory (local engine); on a remote engine the next
``faultdrill clean``/``run`` copies the record from its volume and calls it. It is idempotent.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from faultdrill.reaper.plan import Outcome, Session, summary_line
from faultdrill.reaper.protocol import RECORD_FILE


def build(session: Session, outcomes: list[Outcome], removed: dict[str, list[str]], failed: list[str],
          lost_wall: float | None, grace_s: float) -> dict[str, Any]:
    started = session.started_wall
    record: dict[str, Any] = {
        "run_id": session.run_id,
        "never_connected": not session.said_hello,
        "harness_lost_at_s": round(lost_wall - started, 1) if lost_wall and isinstance(started, (int, float)) else None,
        "grace_s": grace_s,
        "faults": [{"type": o.action.get("type"), "what": _what(o.action), "state": o.state, "detail": o.detail,
                    "action": o.action} for o in outcomes],
        "removed": removed,
        "failed": failed + [f"{_what(o.action)}: {o.detail}" for o in outcomes if o.state == "failed"],
        "finished_wall": round(time.time(), 3),
    }
    record["summary"] = summary_line(record)
    return record


def _what(action: dict[str, Any]) -> str:
    kind = action.get("type")
    if kind == "toxic":
        return f"toxic {action.get('toxic')} on proxy {action.get('proxy')}"
    if kind == "proxy":
        return f"proxy {action.get('proxy')} {action.get('action')}"
    where = action.get("name") or str(action.get("container", "?"))[:12]
    if kind == "sql":
        return f"SQL lock holder {action.get('application_name')} in {where}"
    if kind not in ("container", "exec", "stress"):  # a plugin's kind
        return f"{kind} fault {action.get('fault') or ''}".strip()
    return f"{kind} {action.get('action') or ''} in {where}".replace("  ", " ")


def write(directory: Path, record: dict[str, Any]) -> Path:
    path = directory / RECORD_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read(run_dir: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((run_dir / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def apply_record(run_dir: Path, record: dict[str, Any]) -> bool:
    """Bring the record into ``run_dir``'s journal and run.json; False if it was there already."""
    run_json = run_dir / "run.json"
    try:
        run = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        run = {}
    if run.get("reaped"):
        return False
    journal = run_dir / "journal.jsonl"
    if record.get("faults"):
        seq = sum(1 for _ in journal.open(encoding="utf-8")) if journal.exists() else 0
        with journal.open("a", encoding="utf-8") as fh:
            for fault in record["faults"]:
                if fault["state"] not in ("healed", "nothing left", "failed"):  # left for clean: stays pending
                    continue
                seq += 1
                failed = fault["state"] == "failed"
                action = {**fault["action"], "by": "reaper",
                          ("error" if failed else "recovered"): fault["detail"]}
                fh.write(json.dumps({"seq": seq, "op": "heal_failed" if failed else "revert", "t": None,
                                     "action": action}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    run["reaped"] = {k: record.get(k) for k in ("summary", "harness_lost_at_s", "grace_s", "removed", "failed",
                                               "finished_wall")}
    if run.get("status") in (None, "running"):
        run["status"] = "crashed"
        run["error"] = run.get("error") or "the harness died; its reaper healed and removed what it could"
    run["problems"] = [*run.get("problems", []), record.get("summary", "reaped")]
    tmp = run_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, run_json)
    return True
