"""``python3 -m faultdrill.reaper``: wait for the harness, and reap its run if it goes away."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from faultdrill.reaper import record as records
from faultdrill.reaper.dockerapi import DockerAPI
from faultdrill.reaper.heal import Reaper
from faultdrill.reaper.plan import Session
from faultdrill.reaper.protocol import (
    BYE,
    DOCKER_SOCKET,
    ENV_CONNECT_TIMEOUT,
    ENV_GRACE,
    ENV_RUN,
    ENV_SELF,
    PORT,
    READY,
    RECORD_DIR,
    decode,
    encode,
)


def log(message: str) -> None:
    print(f"reaper: {message}", file=sys.stderr, flush=True)


def listen(server: socket.socket, session: Session, connect_timeout: float) -> float | None:
    """Serve harness connections until one says ``done`` (None) or one that said hello drops (its time)."""
    server.settimeout(connect_timeout)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if not session.said_hello:
                log(f"no harness connected within {connect_timeout:g} s")
                return time.time()
            continue
        with conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            conn.settimeout(None)
            try:
                conn.sendall(encode({"type": READY}))
                for line in conn.makefile("rb"):
                    message = decode(line)
                    if message is None:
                        continue
                    session.feed(message)
                    if session.done:
                        conn.sendall(encode({"type": BYE}))
                        return None
            except OSError:
                pass
        if session.said_hello:
            return time.time()


def read_journal(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def main() -> int:
    run_id = os.environ[ENV_RUN]
    self_name = os.environ[ENV_SELF]
    grace = float(os.environ.get(ENV_GRACE, "3"))
    # the harness connects within its own 20 s of starting us; one that never does died meanwhile
    connect_timeout = float(os.environ.get(ENV_CONNECT_TIMEOUT, "30"))
    session = Session(run_id=run_id)
    server = socket.create_server(("0.0.0.0", PORT))
    lost = listen(server, session, connect_timeout)
    server.close()
    if lost is None:
        log("the run ended cleanly; nothing to do")
        return 0
    log(f"the harness is gone; reaping {run_id} in {grace:g} s")
    time.sleep(grace)
    directory = Path(RECORD_DIR)
    journal = directory / "journal.jsonl"
    if journal.is_file():  # the run directory itself: its journal is the whole truth (nothing lost in flight)
        session.entries = read_journal(journal)
    reaper = Reaper(DockerAPI(DOCKER_SOCKET), session, self_name, log=log)
    outcomes = reaper.heal_all()
    removed, failed = reaper.remove_all(run_id)
    record = records.build(session, outcomes, removed, failed, lost, grace)
    if directory.is_dir():
        records.write(directory, record)
        if (directory / "run.json").exists():  # given the run directory itself (local engine)
            records.apply_record(directory, record)
    log(record["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
