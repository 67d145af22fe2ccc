"""The console's HTTP server: the page, the live stream (Server-Sent Events) and the commands.

Runs in its own threads inside the drill process (stdlib ``ThreadingHTTPServer``). Every request is
checked by :class:`~faultdrill.console.access.Access` first (Host, Origin, token, role); state changes
are POSTs only, with the token in ``Authorization`` (a form on another site cannot send it) and are
queued to the drill's own thread like the terminal's keys (``gameday/control.py``: one path).
Nothing is logged: no request line, so no token, ever reaches a log.

Paths: ``GET /console`` the page (no data in it: the token travels in the link's ``#fragment``, which
browsers never send), ``GET /api/hello`` who am I, ``GET /api/stream?token=…`` the frames (SSE, with
``id:`` and ``Last-Event-ID`` catch-up), ``POST /api/marks`` a responder's mark, and for the
facilitator ``POST /api/faults/N/inject|heal|reveal``, ``POST /api/pause``, ``POST /api/stop``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as CommandTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from faultdrill.console.access import CONTROL_ROLES, MARK_ROLES, READ_ROLES, Access, Role
from faultdrill.console.feed import FrameLog
from faultdrill.gameday.control import COMMAND_TIMEOUT_S, Command

MARK_KINDS = ("detected", "hypothesis", "mitigated", "note")
STREAM_WAIT_S = 10.0  # a keep-alive comment at least this often
CLIENT_TIMEOUT_S = 10.0  # a viewer that takes no bytes for this long is dropped
MAX_BODY = 4096
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                "connect-src 'self'; img-src data:; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'none'"),
)

Submit = Callable[[Command], "Future[dict[str, Any]]"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], console: ConsoleServer, v6: bool) -> None:
        if v6:
            self.address_family = socket.AF_INET6
        self.console = console
        super().__init__(address, ConsoleHandler)


class ConsoleServer:
    """Context manager: serves the console on ``address:port`` until the drill ends."""

    def __init__(self, access: Access, log: FrameLog, submit: Submit, hello: dict[str, Any], page: bytes,
                 address: str, port: int, redact: Callable[[str], str] = lambda text: text) -> None:
        """``redact``: applied to every answer a responder gets outside the stream (whose frames the feed
        already redacted) — the same filter, so a hidden name in the scenario's description stays out."""
        self.access, self.log, self.submit, self.hello, self.page = access, log, submit, hello, page
        self.redact = redact
        self._server = _Server((address, port), self, v6=":" in address)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="console",
                                        daemon=True)  # polls for shutdown every 50 ms: the drill ends at once
        self.streams = 0  # open live streams now
        self._streams_lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def count_stream(self, delta: int) -> None:
        with self._streams_lock:
            self.streams += delta

    def __enter__(self) -> ConsoleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.close()  # streams end
        self._server.shutdown()
        self._server.server_close()


class ConsoleHandler(BaseHTTPRequestHandler):
    """One request: checked (Host, Origin, token, role) before anything else."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = CLIENT_TIMEOUT_S  # an idle or silent connection does not hold a thread for ever

    @property
    def console(self) -> ConsoleServer:
        return self.server.console

    def log_message(self, fmt: str, *args: object) -> None:  # never log: URLs may carry a token
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: dict[str, Any], role: Role | None = None) -> None:
        text = json.dumps(body)
        if role is not Role.FACILITATOR:
            text = self.console.redact(text)
        self._send(status, text.encode(), "application/json")

    def _role(self, allowed: frozenset[Role], query_token: bool = False) -> Role | None:
        token = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        elif query_token:
            given = parse_qs(urlsplit(self.path).query).get("token")
            token = given[0] if given else None
        verdict = self.console.access.check(self.headers.get("Host"), self.headers.get("Origin"), token, allowed)
        if isinstance(verdict, Role):
            return verdict
        status, reason = verdict
        self._json(status, {"error": reason})
        return None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/console"):
            if not self.console.access.host_ok(self.headers.get("Host")):
                self._json(421, {"error": "this console answers only to its own address"})
                return
            self._send(200, self.console.page, "text/html; charset=utf-8")
        elif path == "/api/hello":
            role = self._role(READ_ROLES)
            if role is not None:
                self._json(200, {**self.console.hello, "role": role.value,
                                 "can_control": role in CONTROL_ROLES, "mark_kinds": list(MARK_KINDS)}, role)
        elif path == "/api/stream":
            role = self._role(READ_ROLES, query_token=True)
            if role is not None:
                self._stream(role)
        else:
            self._json(404, {"error": f"no such path {path}"})

    def _stream(self, role: Role) -> None:
        try:
            last = int(self.headers.get("Last-Event-ID") or 0)
        except ValueError:
            last = 0
        self.connection.settimeout(CLIENT_TIMEOUT_S)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True
        self.console.count_stream(+1)
        try:
            self.wfile.write(b"retry: 1000\n\n")
            while True:
                frames, closed = self.console.log.since(role, last, STREAM_WAIT_S)
                chunks = [b"id: %d\nevent: frame\ndata: %s\n\n" % (i, data) for i, data in frames]
                if frames:
                    last = frames[-1][0]
                if closed and not frames:
                    self.wfile.write(b"event: end\ndata: {}\n\n")
                    self.wfile.flush()
                    return
                self.wfile.write(b"".join(chunks) or b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            return  # the viewer left, or was too slow: its loss, not the drill's
        finally:
            self.console.count_stream(-1)

    def do_POST(self) -> None:
        path = [p for p in urlsplit(self.path).path.split("/") if p]
        if path == ["api", "marks"]:
            role = self._role(MARK_ROLES)
        elif path[:2] == ["api", "faults"] or path in (["api", "pause"], ["api", "stop"]):
            role = self._role(CONTROL_ROLES)
        else:
            self._json(404, {"error": f"no such path {self.path}"})
            return
        if role is None:
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                raise ValueError(f"a body of 0 to {MAX_BODY} bytes, with its Content-Length")
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            command = command_for(path, body, role)
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        try:
            self._json(200, self.console.submit(command).result(timeout=COMMAND_TIMEOUT_S), role)
        except CommandTimeout:
            self._json(503, {"error": "the drill did not take the command in time (is it ending?)"})
        except Exception as exc:  # the command failed in the drill (a fault that would not apply): say so
            self._json(409, {"error": str(exc) or type(exc).__name__}, role)


def command_for(path: list[str], body: dict[str, Any], role: Role) -> Command:
    """A POST's path and body → the command the drill runs (raises ValueError with what is wrong)."""
    if path == ["api", "marks"]:
        kind = str(body.get("kind", ""))
        if kind not in MARK_KINDS:
            raise ValueError(f"a mark is one of {', '.join(MARK_KINDS)}, not {kind!r}")
        name = " ".join(str(body.get("by", "")).split())[:60]
        if not name:
            raise ValueError("say who you are: a mark carries its author's name ('by')")
        return Command("annotate", kind=kind, text=str(body.get("text", ""))[:500], source=f"console:{role.value}",
                       by=name)
    if len(path) == 4 and path[:2] == ["api", "faults"] and path[3] in ("inject", "heal", "reveal"):
        if not path[2].isdigit():
            raise ValueError("faults are addressed by their number in the list")
        return Command(path[3], fault=path[2], source="console")
    if path == ["api", "pause"]:
        return Command("pause" if body.get("paused", True) else "resume", source="console")
    if path == ["api", "stop"]:
        return Command("stop", text="ended from the web console", source="console")
    raise ValueError(f"unknown command {'/'.join(path)}")
