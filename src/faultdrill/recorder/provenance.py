"""``run.json``: what ran, where, with what — written at the start and completed at the end.

Values of secret-looking settings are redacted: keys naming a password, secret, token,
key or credential, and passwords inside URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import faultdrill

SECRET_KEY = re.compile(r"pass|secret|token|api[_-]?key|credential|private", re.I)
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.I)
REDACTED = "***"


def redact(value: Any, key: str = "") -> Any:
    """Pure: a copy of ``value`` with secret-looking values replaced."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if key and SECRET_KEY.search(key):
            return REDACTED
        return URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", value)
    return value


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_sha(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def initial_record(*, run_id: str, scenario_path: Path, scenario_text: str, scenario_data: dict[str, Any],
                   started_wall: str, argv: list[str]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "running",
        "scenario": {
            "name": scenario_data.get("name"),
            "path": str(scenario_path),
            "sha256": hashlib.sha256(scenario_text.encode()).hexdigest(),
            "resolved": redact(scenario_data),
        },
        "started": started_wall,
        "ended": None,
        "argv": redact(argv),
        "versions": {
            "faultdrill": faultdrill.__version__,
            "python": sys.version.split()[0],
            "locust": _version("locust"),
            "docker_sdk": _version("docker"),
            "matplotlib": _version("matplotlib"),
        },
        "git_sha": git_sha(scenario_path.resolve().parent),
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: a crash leaves the previous version, never half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
