"""Labels on every Docker object a run creates, so nothing can be left behind unnoticed."""

import os
import socket

RUN = "faultdrill.run"
ROLE = "faultdrill.role"  # service | toxiproxy | network | image
SERVICE = "faultdrill.service"
CONTENT = "faultdrill.content"  # content hash of a built image's context
OWNER = "faultdrill.owner"  # HOST:PID of the process that made it: a clean of every run leaves a live one alone


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_labels(run_id: str, role: str, service: str | None = None) -> dict[str, str]:
    labels = {RUN: run_id, ROLE: role, OWNER: owner()}
    if service:
        labels[SERVICE] = service
    return labels


def owner_alive(text: str) -> bool:
    """Whether the process named by an ``OWNER`` label may still be running: True when it is, or when it is on
    another host (not ours to judge); False when it is gone or the label is not one."""
    host, _, pid = text.rpartition(":")
    if not host or not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
