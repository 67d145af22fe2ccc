"""The orchestrator's side of the load generator: a child process and its per-second stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from faultdrill.errors import InfraError
from faultdrill.load.histograms import LoadSecond
from faultdrill.load.shape import StageSpec

OnSecond = Callable[[LoadSecond], None]


class LoadProcess:
    """Locust in a child process. A context manager: the child is always stopped on exit."""

    def __init__(self, *, t0: float, duration: float, host: str, journeys: str, stages: list[StageSpec],
                 request_timeout: float, on_second: OnSecond, log_path: Path) -> None:
        self.config = {"t0": t0, "duration": duration, "host": host, "journeys": journeys,
                       "stages": [asdict(s) for s in stages], "request_timeout": request_timeout}
        self.on_second = on_second
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.finished = threading.Event()
        self.error: str | None = None
        self._reader: threading.Thread | None = None
        self._log = None

    def __enter__(self) -> "LoadProcess":
        self._log = open(self.log_path, "a", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faultdrill.load.child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, env=env, start_new_session=True)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(self.config) + "\n")
        self.proc.stdin.close()
        self._reader = threading.Thread(target=self._read, name="load-reader", daemon=True)
        self._reader.start()
        if not self.ready.wait(timeout=60) or self.error:
            self.stop()
            raise InfraError(f"the load generator did not start: {self.error or 'no answer in 60s'}",
                             hint=f"see {self.log_path}")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            kind = message.get("type")
            if kind == "second":
                self.on_second(LoadSecond.from_wire(message))
            elif kind == "ready":
                self.ready.set()
            elif kind == "error":
                self.error = message.get("message", "unknown error")
                self.ready.set()
            elif kind == "done":
                break
        self.finished.set()
        self.ready.set()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to stop and flush its last seconds; kill it if it will not."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
