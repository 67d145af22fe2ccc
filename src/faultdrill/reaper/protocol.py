"""What the harness and the reaper share: names, labels, environment, and the line protocol.

The harness opens one TCP connection and sends JSON lines:

- ``{"type": "hello", "run_id": ..., "started_wall": ...}`` — the run's id and wall-clock start;
- ``{"type": "stack", "network": ..., "toxiproxy_api": ..., "toxiproxy_internal": ...}`` — once the stack is up;
- ``{"type": "clock", "t0_wall": ...}`` — when the run clock's t=0 was (wall clock, seconds);
- ``{"type": "journal", "entry": {...}}`` — every fault-journal line as it is written;
- ``{"type": "done"}`` — the run ended and cleaned up after itself; the reaper answers ``bye`` and exits.

The reaper greets every connection with ``ready``. A connection that said ``hello`` and drops
without ``done`` means the harness died.
"""

from __future__ import annotations

import json
from typing import Any

PORT = 7171  # inside the reaper container; published on 127.0.0.1
RUN_LABEL = "faultdrill.run"  # = faultdrill.stack.labels.RUN (the reaper image ships without it)
ROLE_LABEL = "faultdrill.role"
ROLE = "reaper"
RECORD_LABEL = "faultdrill.reaper-record"  # on the remote engine's record volume (not RUN: the reaper keeps it)
RECORD_FILE = "reaper.json"
RECORD_DIR = "/record"  # in the container: the run directory (local engine) or the record volume
DOCKER_SOCKET = "/var/run/docker.sock"

ENV_RUN = "FAULTDRILL_REAPER_RUN"
ENV_SELF = "FAULTDRILL_REAPER_SELF"  # the reaper's own container name
ENV_GRACE = "FAULTDRILL_REAPER_GRACE"  # seconds (also the harness-side override)
ENV_CONNECT_TIMEOUT = "FAULTDRILL_REAPER_CONNECT_TIMEOUT"
ENV_SWITCH = "FAULTDRILL_REAPER"  # "off" disables the reaper (harness side)

READY = "ready"
BYE = "bye"


def container_name(run_id: str) -> str:
    return f"fd-{run_id}-reaper"


def record_volume(run_id: str) -> str:
    return f"fd-{run_id}-reaper-record"


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: str | bytes) -> dict[str, Any] | None:
    """One protocol line, or None for a line that is not a JSON object (ignored, never fatal)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) else None
