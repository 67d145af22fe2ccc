"""The orchestrator's side of the load generator: a child process and its per-second stream.

Two phases (see ``faultdrill.load.child``): entering ``LoadProcess`` *prepares* the generator
(Locust imported, users built, workers connected); ``start(on_second, t0)`` then starts its load on
the run clock ``t0``, so second 0 is a full second of load. The stream fails closed: a callback
that raises, a line that cannot be read or a stream that ends without its end marker is kept in
``error`` (and ``alive`` turns False), never a silent gap in the load data.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from faultdrill.errors import InfraError
from faultdrill.histograms import LoadSecond
from faultdrill.load.config import ChildConfig
from faultdrill.load.join import TOKEN_ENV, new_token

OnSecond = Callable[[LoadSecond], None]
OnWorker = Callable[[dict[str, Any]], None]


class LoadProcess:
    """Locust in a child process. A context manager: entering prepares it, the child is always
    stopped on exit (and when entering fails).

    Pass the scenario's ``Load`` model as ``load=`` to get everything it describes (open mode,
    ramps/spike/steps, profiles, workers, weights, think time), or a ready ``config=``.
    ``config.t0`` is ignored: the run clock's origin is the one given to ``start``.
    """

    def __init__(self, *, duration: float, host: str, journeys: str, log_path: Path,
                 load: Any = None, config: ChildConfig | None = None, prepare_timeout: float = 60.0,
                 on_worker: OnWorker | None = None) -> None:
        if config is None:
            if load is None:
                raise ValueError("LoadProcess needs load= (the scenario's Load) or config=")
            config = ChildConfig.from_load(load, duration=duration, host=host, journeys=journeys)
        if config.remote_workers and not config.token:
            config = replace(config, token=os.environ.get(TOKEN_ENV) or new_token())
        self.child_config = config
        self.config = config.to_json()
        # remote workers get the drill's wait to join, on top of the time to prepare
        self.prepare_timeout = prepare_timeout + (config.remote_wait if config.remote_workers else 0.0)
        self.on_worker = on_worker
        self.worker_events: list[dict[str, Any]] = []  # joined / lost, as the child said them
        self.workers_report: list[dict[str, Any]] = []  # every worker, its clock and fate (for run.json)
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.prepared = threading.Event()
        self.started = threading.Event()  # the child confirmed the start
        self.finished = threading.Event()  # the stream ended (with or without its end marker)
        self.error: str | None = None
        self.last_second: int | None = None  # the last second delivered to on_second
        self._on_second: OnSecond | None = None
        self._done = False
        self._reader: threading.Thread | None = None
        self._log: IO[str] | None = None

    # -- phase 1: prepare ------------------------------------------------------------------
    def __enter__(self) -> LoadProcess:
        try:
            self.prepare()
        except BaseException:
            self.__exit__()
            raise
        return self

    def prepare(self) -> None:
        """Start the child and wait until it is ready to send load (``prepare_timeout`` at most)."""
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - the child's stderr until __exit__
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faultdrill.load.child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, env=env, start_new_session=True)
        try:
            self._send(self.config)
        except OSError as exc:
            raise InfraError(f"the load generator did not start: {exc}", hint=f"see {self.log_path}") from exc
        self._reader = threading.Thread(target=self._read, name="load-reader", daemon=True)
        self._reader.start()
        if not self.prepared.wait(timeout=self.prepare_timeout) or self.error or self._done:
            why = self.error or ("it exited" if self._done else f"no answer in {self.prepare_timeout:g}s")
            raise InfraError(f"the load generator did not get ready: {why}", hint=f"see {self.log_path}")

    # -- phase 2: start --------------------------------------------------------------------
    def start(self, on_second: OnSecond, t0: float | None = None) -> float:
        """Start the load on the run clock ``t0`` (default: now); each second goes to ``on_second``
        (on the reader thread). Returns ``t0``."""
        if not self.prepared.is_set() or self.proc is None:
            raise RuntimeError("LoadProcess.start before it was prepared (use it as a context manager)")
        t0 = time.monotonic() if t0 is None else t0
        self._on_second = on_second
        try:
            self._send({"type": "start", "t0": t0})
        except OSError as exc:
            raise InfraError(f"the load generator went away before the start: {self.error or exc}",
                             hint=f"see {self.log_path}") from exc
        return t0

    @contextmanager
    def running(self, on_second: OnSecond, t0: float) -> Iterator[LoadProcess]:
        """``start``, and stop the load (its last seconds flushed) on leaving, whatever happens."""
        self.start(on_second, t0)
        try:
            yield self
        finally:
            self.stop()

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    # -- the stream ------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                if not self._handle(line):
                    break
            if not self._done:
                code = self._exit_code()
                self._fail(f"the load generator's stream ended {self._where()} without its end marker "
                           f"(exit code {code}): the load data would be cut off")
        finally:
            self.finished.set()
            self.prepared.set()

    def _handle(self, line: str) -> bool:
        """Act on one line of the stream; False once it is over."""
        try:
            message = json.loads(line)
            kind = message.get("type")
        except (ValueError, AttributeError):
            self._fail(f"the load generator sent an unreadable line {self._where()}: {line.strip()[:120]!r}")
            return True  # keep draining, so the child never blocks on a full pipe
        if kind == "second":
            self._deliver(message)
        elif kind == "prepared":
            self.prepared.set()
        elif kind == "started":
            self.started.set()
        elif kind == "error":
            self._fail(f"the load generator failed: {message.get('message', 'unknown error')}")
            self.prepared.set()
        elif kind == "worker":
            self.worker_events.append(message)
            if self.on_worker is not None:
                try:
                    self.on_worker(message)
                except Exception as exc:
                    self._fail(f"a load worker's news could not be recorded: {type(exc).__name__}: {exc}")
        elif kind == "workers":
            self.workers_report = list(message.get("workers", []))
        elif kind == "done":
            self._done = True
            return False
        else:
            self._fail(f"the load generator sent an unknown message {self._where()}: {line.strip()[:120]!r}")
        return True

    def _deliver(self, message: dict[str, Any]) -> None:
        if self.error is not None or self._on_second is None:
            return  # failed already: nothing after the gap is recorded as if it were whole
        try:
            second = LoadSecond.from_wire(message)
        except (KeyError, ValueError, TypeError) as exc:
            self._fail(f"the load generator sent an unreadable record {self._where()}: "
                       f"{type(exc).__name__}: {exc}")
            return
        try:
            self._on_second(second)
        except Exception as exc:
            self._log_traceback(second.t)
            self._fail(f"the load data of second {second.t} could not be recorded: {type(exc).__name__}: {exc}")
            return
        self.last_second = second.t

    def _fail(self, message: str) -> None:
        if self.error is None:  # the first failure is the cause; later ones follow from it
            self.error = message

    def _where(self) -> str:
        return "before its first second" if self.last_second is None else f"after second {self.last_second}"

    def _exit_code(self) -> int | None:
        assert self.proc is not None
        with suppress(subprocess.TimeoutExpired):
            return self.proc.wait(timeout=5)
        return None

    def _log_traceback(self, t: int) -> None:
        if self._log is not None:
            with suppress(OSError, ValueError):
                self._log.write(f"faultdrill: recording second {t} of the load stream failed:\n"
                                f"{traceback.format_exc()}")
                self._log.flush()

    @property
    def join_command(self) -> str | None:
        """How to start a remote worker for this drill (None without remote workers)."""
        c = self.child_config
        if not c.remote_workers:
            return None
        host = socket.gethostname() if c.listen_host in ("0.0.0.0", "*", "::") else c.listen_host
        return f"faultdrill worker --master {host}:{c.listen_port} --token {c.token}"

    @property
    def lost_workers(self) -> list[dict[str, Any]]:
        return [e for e in self.worker_events if e.get("event") == "lost"]

    # -- state and stopping ----------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """The child runs and its stream is healthy (False once it failed, even if the child runs)."""
        return self.error is None and self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to stop and flush its last seconds; kill it if it will not."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
