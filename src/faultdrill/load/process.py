"""The orchestrator's side of the load generator: a child process and its per-second stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from faultdrill.errors import InfraError
from faultdrill.load.config import ChildConfig
from faultdrill.load.histograms import LoadSecond
from faultdrill.load.shape import StageSpec

OnSecond = Callable[[LoadSecond], None]


class LoadProcess:
    """Locust in a child process. A context manager: the child is always stopped on exit.

    Pass the scenario's ``Load`` model as ``load=`` to get everything it describes (open mode,
    ramps/spike/steps, profiles, workers, weights, think time); ``stages`` is then ignored.
    Without it, ``stages`` drive a closed-model run as before.
    """

    def __init__(self, *, t0: float, duration: float, host: str, journeys: str,
                 stages: list[StageSpec] | None = None, request_timeout: float = 10.0, on_second: OnSecond,
                 log_path: Path, load: Any = None, config: ChildConfig | None = None,
                 ready_timeout: float = 60.0) -> None:
        if config is None:
            if load is not None:
                config = ChildConfig.from_load(load, t0=t0, duration=duration, host=host, journeys=journeys)
            elif stages:
                config = ChildConfig(t0=t0, duration=duration, host=host, journeys=journeys,
                                     segments=[s.segment() for s in stages], request_timeout=request_timeout)
            else:
                raise ValueError("LoadProcess needs load= (the scenario's Load), stages= or config=")
        self.child_config = config
        self.config = config.to_json()
        self.ready_timeout = ready_timeout
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
        if not self.ready.wait(timeout=self.ready_timeout) or self.error:
            self.stop()
            why = self.error or f"no answer in {self.ready_timeout:g}s"
            raise InfraError(f"the load generator did not start: {why}",
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
