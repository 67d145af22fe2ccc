"""The load generator's own process: Locust as a library, gevent-patched, away from the orchestrator.

Protocol: one JSON config line on stdin; JSON lines on stdout:
``{"type": "ready"}``, then one ``{"type": "second", ...}`` per second of the run clock
(see ``LoadSecond.to_wire``), then ``{"type": "done"}``. Locust's own log goes to stderr.

The run clock is shared with the parent: both use CLOCK_MONOTONIC, and the parent sends
its origin ``t0``. Requests are counted in the second they complete.

The child stops by itself when the shape ends, on SIGTERM/SIGINT, or when its parent dies.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import LoadTestShape, User  # noqa: E402
from locust.env import Environment  # noqa: E402

from faultdrill.load.histograms import LoadSecond, RequestStats, record_ms  # noqa: E402
from faultdrill.load.shape import StageSpec, target_at  # noqa: E402


@dataclass
class ChildConfig:
    t0: float  # run clock origin, time.monotonic() in the parent
    duration: float
    host: str
    journeys: str
    stages: list[StageSpec]
    request_timeout: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ChildConfig":
        return cls(float(data["t0"]), float(data["duration"]), data["host"], data["journeys"],
                   [StageSpec(**s) for s in data["stages"]], float(data["request_timeout"]))


def classify_failure(exception: BaseException | None, response: Any) -> str:
    """A short, stable name for why a request failed (pure)."""
    status = getattr(response, "status_code", None) if response is not None else None
    if status:
        return f"HTTP {status}"
    exc = exception
    text = f"{type(exc).__name__}: {exc}".lower() if exc else ""
    if isinstance(exc, ConnectionRefusedError) or "refused" in text:
        return "connection refused"
    if isinstance(exc, ConnectionResetError) or "reset by peer" in text:
        return "connection reset"
    if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in text or "timeout" in text:
        return "timeout"
    if isinstance(exc, ssl.SSLError) or "ssl" in text or "handshake" in text:
        return "tls handshake"
    if "closed" in text or "eof" in text or "disconnect" in text:
        return "connection closed"
    if "status" in text and status:
        return f"HTTP {status}"
    return type(exc).__name__ if exc else "failure"


class Buckets:
    """Per-second, per-request-name stats on the run clock."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.data: dict[int, dict[str, RequestStats]] = {}

    def add(self, name: str, ms: float, failure: str | None) -> None:
        second = int(time.monotonic() - self.t0)
        stats = self.data.setdefault(second, {}).setdefault(name, RequestStats())
        stats.count += 1
        record_ms(stats.hist, ms)
        if failure:
            stats.failures += 1
            stats.errors[failure] = stats.errors.get(failure, 0) + 1

    def pop(self, second: int) -> dict[str, RequestStats]:
        return self.data.pop(second, {})


def make_shape(config: ChildConfig) -> LoadTestShape:
    class RunClockShape(LoadTestShape):
        def tick(self):  # type: ignore[override]
            return target_at(config.stages, time.monotonic() - config.t0, config.duration)

    return RunClockShape()


def load_user_classes(journeys: str, request_timeout: float) -> list[type[User]]:
    if journeys.startswith("builtin:"):
        from faultdrill.load.journeys import builtin_user_classes

        classes = builtin_user_classes(journeys.removeprefix("builtin:"))
    else:
        from locust.util.load_locustfile import load_locustfile

        _doc, found, _shapes = load_locustfile(journeys)
        classes = list(found.values())
    for cls in classes:
        if hasattr(cls, "network_timeout"):
            cls.network_timeout = request_timeout
            cls.connection_timeout = request_timeout
    return classes


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run(config: ChildConfig) -> None:
    parent = os.getppid()
    buckets = Buckets(config.t0)
    env = Environment(user_classes=load_user_classes(config.journeys, config.request_timeout),
                      shape_class=make_shape(config), host=config.host)

    def on_request(request_type, name, response_time, response_length, response=None, context=None,
                   exception=None, **_kw):
        label = name if " " in name else f"{request_type} {name}"
        buckets.add(label, float(response_time or 0.0), classify_failure(exception, response) if exception else None)

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    stopping = gevent.event.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stopping.set)

    runner.start_shape()
    emit({"type": "ready", "pid": os.getpid()})
    next_second = 0
    deadline = config.t0 + config.duration + 5.0  # hard bound even if the shape misbehaves
    while True:
        now = time.monotonic()
        boundary = config.t0 + next_second + 1
        if now >= boundary + 0.02:
            emit(LoadSecond(next_second, runner.user_count, buckets.pop(next_second)).to_wire())
            next_second += 1
            continue
        if stopping.is_set() or now >= deadline or os.getppid() != parent:
            break
        if now >= config.t0 + config.duration and next_second >= int(config.duration):
            break
        stopping.wait(timeout=min(0.1, max(0.0, boundary + 0.02 - now)))
    runner.quit()  # stops users; FastHttpUser closes its connections when its greenlet is killed
    gevent.sleep(0.05)
    last = int(time.monotonic() - config.t0)
    for second in range(next_second, last + 1):
        emit(LoadSecond(second, 0, buckets.pop(second)).to_wire())
    emit({"type": "done"})


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    line = sys.stdin.readline()
    try:
        config = ChildConfig.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError) as exc:
        emit({"type": "error", "message": f"bad child config: {exc}"})
        return 2
    try:
        run(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        logging.exception("load generator failed")
        emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
