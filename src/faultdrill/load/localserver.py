"""A tiny, fast HTTP/1.1 server on 127.0.0.1, for the load engine's tests and benchmarks.

asyncio with a hand-rolled parser (keep-alive, Content-Length bodies), so it costs the machine
far less than the load generator it measures. Options: optional TLS (an ``ssl.SSLContext``),
per-path status codes, a fixed delay, a *freeze* (every ``freeze_every`` s, hold every response
for ``freeze_for`` s: the stall that coordinated omission hides), and a ticketing-like route table
(``ticketing=True``) answering the demo app's endpoints.

In-process: ``with LocalServer(...) as srv: srv.url``. As a process (benchmarks; on uvloop where installed):
``python -m faultdrill.load.localserver --port 0 [--freeze-every 5 --freeze-for 1]`` prints
``{"port": N}`` and serves until stdin closes, SIGTERM, or ``--max-seconds`` (always bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import signal
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import cast

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 409: "Conflict",
           500: "Internal Server Error", 503: "Service Unavailable"}
TICKETING = [("POST", re.compile(r"^/signup$"), 201), ("POST", re.compile(r"^/events/\d+/entries$"), 202),
             ("GET", re.compile(r"^/events/\d+/entries/\d+$"), 200), ("GET", re.compile(r"^/events/\d+$"), 200),
             ("GET", re.compile(r"^/events$"), 200), ("GET", re.compile(r"^/healthz$"), 200),
             ("GET", re.compile(r"^/$"), 200)]


@dataclass
class ServerOptions:
    status: int = 200
    statuses: dict[str, int] = field(default_factory=dict)  # path -> status
    delay: float = 0.0
    freeze_every: float = 0.0
    freeze_for: float = 0.0
    ticketing: bool = False
    body: bytes = b'{"ok":true}'


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0  # accepted so far
        self.open = 0  # open now
        self.paths: dict[str, int] = {}


def _status(opts: ServerOptions, method: str, path: str) -> int:
    path = path.split("?", 1)[0]
    if path in opts.statuses:
        return opts.statuses[path]
    if opts.ticketing:
        for m, pattern, status in TICKETING:
            if m == method and pattern.match(path):
                return status
        return 404
    return opts.status


class _Http(asyncio.Protocol):
    def __init__(self, opts: ServerOptions, stats: Stats, origin: float) -> None:
        self.opts, self.stats, self.origin = opts, stats, origin
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.stats.connections += 1
        self.stats.open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.open -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            if m:
                length = int(m.group(1))
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            parts = head.split(" ", 2)
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("GET", "/")
            self.stats.requests += 1
            self.stats.paths[path] = self.stats.paths.get(path, 0) + 1
            status = _status(self.opts, method, path)
            body = self.opts.body
            response = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            wait = self._wait()
            if wait > 0:
                asyncio.get_running_loop().call_later(wait, self._write, response)
            else:
                self._write(response)

    def _wait(self) -> float:
        wait = self.opts.delay
        if self.opts.freeze_every > 0 and self.opts.freeze_for > 0:
            phase = (time.monotonic() - self.origin) % self.opts.freeze_every
            if phase >= self.opts.freeze_every - self.opts.freeze_for:  # frozen until the period ends
                wait += self.opts.freeze_every - phase
        return wait

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


class LocalServer:
    """The server in a background thread (its own event loop). A context manager."""

    def __init__(self, opts: ServerOptions | None = None, *, ssl_context: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.opts = opts or ServerOptions()
        self.ssl_context = ssl_context
        self.port = port
        self.stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.origin = time.monotonic()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        self._thread = threading.Thread(target=self._run, name="localserver", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the local server did not start in 10s")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(self._loop.create_server(
            lambda: _Http(self.opts, self.stats, self.origin), "127.0.0.1", self.port, ssl=self.ssl_context,
            backlog=1024))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)


async def _serve_forever(opts: ServerOptions, port: int, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    origin = time.monotonic()  # one freeze schedule for every connection
    server = await loop.create_server(lambda: _Http(opts, stats, origin), "127.0.0.1", port, backlog=4096)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not cast(io.BufferedReader, sys.stdin.buffer).read1(1) else None)
    try:
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()
    print(json.dumps({"requests": stats.requests, "connections": stats.connections}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--freeze-every", type=float, default=0.0)
    parser.add_argument("--freeze-for", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    opts = ServerOptions(delay=args.delay, freeze_every=args.freeze_every, freeze_for=args.freeze_for)
    serving = _serve_forever(opts, args.port, args.max_seconds)
    try:  # uvloop where installed (faultdrill's own dependency): the target stays cheap beside the generators
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(serving)
        return 0
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # type: ignore[attr-defined,unused-ignore]
            runner.run(serving)
    else:
        asyncio.run(serving)
    return 0


if __name__ == "__main__":
    sys.exit(main())
