"""One run directory → the rows the history index holds (pure apart from reading the run's files).

Read from the run's own files only: ``run.json`` (provenance: git sha, start time, status while it
runs) and ``summary.json`` (the verdict, checks, windows, detection). A run killed mid-drill has a
``run.json`` still saying ``running`` (or ``crashed`` after its reaper) and no ``summary.json``: it
is indexed as ``interrupted``. A file that cannot be read makes the run ``error`` with the reason —
never an exception out of here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("passed", "failed", "aborted", "interrupted", "error")
WINDOW_FIGURES = ("seconds", "requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")


@dataclass(frozen=True)
class CheckRow:
    name: str
    metric: str
    window: str
    value: float | None
    outcome: str  # passed | failed | misconfigured | not_judged


@dataclass(frozen=True)
class WindowRow:
    window: str
    figures: dict[str, float | None]


@dataclass(frozen=True)
class DetectionRow:
    fault: str
    check: str
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    note: str


@dataclass(frozen=True)
class RunRow:
    run_id: str
    path: str
    scenario: str
    scenario_sha: str | None
    git_sha: str | None
    started: str | None
    status: str  # one of STATUSES
    note: str  # why, for interrupted/error runs
    duration_s: float | None
    fingerprint: str  # changes when run.json or summary.json does: re-index then
    checks: list[CheckRow] = field(default_factory=list)
    windows: list[WindowRow] = field(default_factory=list)
    detection: list[DetectionRow] = field(default_factory=list)


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "run.json").is_file()


def fingerprint(path: Path) -> str:
    parts = []
    for name in ("run.json", "summary.json"):
        try:
            st = os.stat(path / name)
            parts.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(f"{name}:-")
    return "|".join(parts)


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as exc:
        return None, f"{path.name} unreadable: {type(exc).__name__}: {exc}"
    if not isinstance(data, dict):
        return None, f"{path.name} is not a JSON object"
    return data, ""


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _window_name(window: Any) -> str:
    if isinstance(window, dict):
        return f"{window.get('from')}..{window.get('to')}"
    return str(window or "run")


def run_status(run: dict[str, Any] | None, summary: dict[str, Any] | None) -> tuple[str, str]:
    """(status, note): passed | failed (a check) | aborted (a stop condition) | interrupted (Ctrl-C,
    killed, or never finished) | error (infrastructure, or files that cannot be read)."""
    if summary is not None:
        st = summary.get("status")
        if st == "completed":
            return ("passed", "") if summary.get("verdict") == "passed" else ("failed", "")
        if st == "aborted":
            return "aborted", str(summary.get("error") or "a stop condition fired")
        if st == "interrupted":
            return "interrupted", str(summary.get("error") or "interrupted")
        return "error", str(summary.get("error") or f"run status {st}")
    rst = (run or {}).get("status")
    if rst in ("running", "crashed", None, "interrupted"):
        return "interrupted", "no summary.json: the run was killed before it finished (or is still running)"
    return "error", f"no summary.json (run.json status {rst})"


def read_run(path: Path) -> RunRow:
    run, run_err = _read(path / "run.json")
    summary, sum_err = _read(path / "summary.json")
    status, note = run_status(run, summary)
    if sum_err:
        status, note = "error", sum_err
    elif run_err and summary is None:
        status, note = "error", run_err
    run = run or {}
    scen: dict[str, Any] = run["scenario"] if isinstance(run.get("scenario"), dict) else {}
    summary = summary or {}
    checks = [CheckRow(str(c.get("name")), str(c.get("metric", "")), _window_name(c.get("window")),
                       _num(c.get("value")), str(c.get("outcome") or ("passed" if c.get("passed") else "failed")))
              for c in summary.get("checks", []) if isinstance(c, dict)]
    checks += [CheckRow(str(c.get("name")), str(c.get("metric", "")), _window_name(c.get("window")), None, "not_judged")
               for c in summary.get("checks_not_judged", []) if isinstance(c, dict)]
    windows = [WindowRow(str(name), {k: _num(w.get(k)) for k in WINDOW_FIGURES})
               for name, w in (summary.get("windows") or {}).items() if isinstance(w, dict)]
    detection = [DetectionRow(str(d.get("fault")), str(d.get("check")), _num(d.get("time_to_detect_s")),
                              _num(d.get("time_to_recover_s")), str(d.get("note", "")))
                 for d in summary.get("detection", []) if isinstance(d, dict)]
    return RunRow(
        run_id=path.name, path=str(path.resolve()),
        scenario=str(summary.get("scenario") or scen.get("name") or _scenario_from_id(path.name)),
        scenario_sha=scen.get("sha256"), git_sha=run.get("git_sha"),
        started=run.get("started") or _started_from_id(path.name), status=status, note=note,
        duration_s=_num(summary.get("duration_s")), fingerprint=fingerprint(path),
        checks=checks, windows=windows, detection=detection)


def _scenario_from_id(run_id: str) -> str:
    parts = run_id.split("-")
    return "-".join(parts[2:-1]) if len(parts) > 3 else run_id


def _started_from_id(run_id: str) -> str | None:
    parts = run_id.split("-")
    if len(parts) > 2 and len(parts[0]) == 8 and len(parts[1]) == 6:
        d, t = parts[0], parts[1]
        return f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:4]}:{t[4:]}+00:00"
    return None
