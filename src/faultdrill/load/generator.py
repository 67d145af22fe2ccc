"""What every role of the load child shares: the protocol to the parent, the per-second clock, and
``Generator`` (user classes, recording, the run clock's seconds). See ``child.py`` for the protocol.

Importing this module patches the process for gevent (as Locust needs): only the load child's
processes import it (``child``, ``worker``, ``master``, ``remote_worker``).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402 - gevent's (patched above): waiting for the parent never blocks the hub
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust import LoadTestShape  # noqa: E402
from locust.env import Environment  # noqa: E402

from faultdrill.histograms import LoadSecond  # noqa: E402
from faultdrill.load.config import ChildConfig  # noqa: E402
from faultdrill.load.failures import classify_failure  # noqa: E402
from faultdrill.load.netcount import ConnTracker  # noqa: E402
from faultdrill.load.recording import Buckets, CpuMeter  # noqa: E402
from faultdrill.load.shape import closed_target, planned_at  # noqa: E402
from faultdrill.load.users import ProfileSpec, load_user_classes, profiled_classes  # noqa: E402

EMIT_AFTER_S = 0.02  # a second is emitted this long after it ends (late completions land in it)
CONNECT_TIMEOUT_S = 60.0  # the master waits this long for its workers to connect
SECOND_MSG, DONE_MSG, START_MSG = "fd_second", "fd_done", "fd_start"


def make_shape(config_of: Callable[[], ChildConfig]) -> LoadTestShape:
    class RunClockShape(LoadTestShape):
        def tick(self) -> tuple[int, float] | None:
            config = config_of()
            return closed_target(config.segments, time.monotonic() - config.t0, config.duration)

    return RunClockShape()  # type: ignore[no-untyped-call]  # Locust's LoadTestShape.__init__ is unannotated


def emit(message: dict[str, Any]) -> None:
    """One protocol line to the parent (``sys.__stdout__``: ``main`` sends other output to stderr)."""
    out = sys.__stdout__
    assert out is not None
    out.write(json.dumps(message, separators=(",", ":")) + "\n")
    out.flush()


class ParentLink:
    """Lines from the parent on stdin, read without blocking the gevent hub (heartbeats go on)."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self.buffer = b""

    def read_line(self, timeout: float, give_up: Callable[[], bool] = lambda: False) -> bytes | None:
        """The next line; None at EOF (the parent is gone), on ``give_up()`` or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if give_up() or time.monotonic() >= deadline:
                return None
            readable, _, _ = select.select([self.fd], [], [], 0.1)
            if readable:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return None
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


class Generator:
    """The parts every role shares: user classes, recording, the per-second clock."""

    def __init__(self, config: ChildConfig) -> None:
        self.config = config
        self.parent = os.getppid()
        profiles = [ProfileSpec.from_json(p) for p in config.profiles]
        self.buckets = Buckets(config.t0, named_profiles=bool(profiles))
        self.tracker = ConnTracker(self.buckets.count_conn)
        self.tracker.install()
        self.user_classes = profiled_classes(
            load_user_classes(config.journeys), profiles, self.tracker, weights=config.weights,
            think_time=config.think_time, request_timeout=config.request_timeout, host=config.host)
        self.env = Environment(user_classes=self.user_classes, host=config.host,
                               shape_class=make_shape(lambda: self.config) if config.role != "worker" else None)
        self.env.events.request.add_listener(self._on_request)
        self.open_loop: Any = None
        self.stopping = gevent.event.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self.stopping.set)
        self.cpu = CpuMeter()

    def unhook_locust_stats(self) -> bool:
        """Drop the request listener a Locust runner adds (call it once the runner is made).

        Locust keeps its own request statistics (an entry per name plus a total, updated on every
        request) that nothing in faultdrill reads: the run's record is this generator's per-second
        histograms. Left in, they were most of the harness's cost per request over bare Locust. Returns
        whether the listener was found (``tests/unit/test_load_generator.py`` holds that it is)."""
        hook = self.env.events.request
        theirs = [h for h in list(hook._handlers)
                  if getattr(h, "__qualname__", "") == "Runner.__init__.<locals>.on_request"]
        for handler in theirs:
            hook.remove_listener(handler)
        return bool(theirs)

    def _on_request(self, request_type: str, name: str, response_time: float | None, response_length: int,
                    response: Any = None, context: dict[str, Any] | None = None, exception: BaseException | None = None,
                    **_kw: Any) -> None:
        label = name if " " in name else f"{request_type} {name}"
        profile = (context or {}).get("fd_profile") or self.tracker.profile()
        ms = float(response_time or 0.0)
        if self.open_loop is not None:
            ms += self.open_loop.take_delay_ms()
        self.buckets.add(label, ms, classify_failure(exception, response) if exception else None, profile)

    def parent_gone(self) -> bool:
        return os.getppid() != self.parent

    def await_start(self, link: ParentLink) -> float | None:
        """Say ``prepared``; return the parent's run clock origin, or None if told to stop (SIGTERM,
        stdin closed, parent gone) first. No start within ``config.start_timeout``: RuntimeError."""
        emit({"type": "prepared", "pid": os.getpid(), "workers": self.config.total_workers})
        started, timeout = time.monotonic(), self.config.start_timeout
        line = link.read_line(timeout, give_up=lambda: self.stopping.is_set() or self.parent_gone())
        if line is None:
            if time.monotonic() - started >= timeout:
                raise RuntimeError(f"prepared, but no start came from the drill within {timeout:g}s")
            return None
        message = json.loads(line)
        if message.get("type") != "start":
            raise ValueError(f"expected a start message, got {line[:200]!r}")
        return float(message["t0"])

    def begin(self, t0: float) -> None:
        """Put this process on the parent's run clock: second 0 starts at ``t0``."""
        self.config = replace(self.config, t0=t0)
        self.buckets.t0 = t0
        # Everything built so far (Locust, the journeys, the users' classes) lives for the whole run:
        # out of the collector's way, a full collection during the load takes ~1 ms instead of ~30 ms
        # (a stall that sends a few dozen open-model arrivals late at once).
        gc.collect()
        gc.freeze()
        self.cpu = CpuMeter()

    def start_open_loop(self, index: int = 0, stride: int = 1) -> None:
        from faultdrill.load.openloop import OpenLoop

        c = self.config
        self.open_loop = OpenLoop(self.env, self.user_classes, c.segments, t0=c.t0, duration=c.duration,
                                  max_in_flight=c.max_in_flight, late_after=c.late_after,
                                  open_stats=self.buckets.open_stats, tracker=self.tracker,
                                  index=index, stride=stride, seed=c.seed)
        self.open_loop.start()

    def users(self, runner: Any) -> int:
        """Concurrent users: Locust's count (closed model), arrivals in flight (open model)."""
        return int(self.open_loop.in_flight if self.open_loop is not None else runner.user_count)

    def record(self, second: int, users: int) -> LoadSecond:
        c = self.config
        out = self.buckets.pop(second, users, open_model=c.mode == "open", cpu_pct=self.cpu.sample(),
                               in_flight=self.open_loop.in_flight if self.open_loop else 0,
                               late_after=c.late_after)
        out.planned = planned_at(c.segments, second, c.duration, open_model=c.mode == "open")
        return out

    def should_stop(self, next_second: int) -> bool:
        now = time.monotonic()
        c = self.config
        return (self.stopping.is_set() or now >= c.hard_deadline or self.parent_gone()
                or (now >= c.t0 + c.duration and next_second >= int(c.duration)))

    def each_second(self, on_second: Callable[[int], None], extra_stop: Callable[[], bool] = lambda: False) -> int:
        """Call ``on_second(t)`` just after each second ends, until the run is over; returns the next t."""
        next_second = 0
        while True:
            now = time.monotonic()
            boundary = self.config.t0 + next_second + 1
            if now >= boundary + EMIT_AFTER_S:
                on_second(next_second)
                next_second += 1
                continue
            if self.should_stop(next_second) or extra_stop():
                return next_second
            self.stopping.wait(timeout=min(0.1, max(0.0, boundary + EMIT_AFTER_S - now)))

    def stop_load(self, runner: Any) -> None:
        if self.open_loop is not None:
            self.open_loop.stop()
        if runner is not None:
            runner.stop()  # stops users; each closes its connections (users.profiled_classes)
        gevent.sleep(0.05)

    def flush_lines(self, next_second: int, users: Callable[[], int], sink: Callable[[LoadSecond], None]) -> None:
        last = int(time.monotonic() - self.config.t0)
        for second in range(next_second, last + 1):
            sink(self.record(second, users()))
