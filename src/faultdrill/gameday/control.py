"""The control endpoint of a live drill: HTTP on 127.0.0.1 only, every request carrying the run's token.

The server only queues commands; the drill executes them on its own thread (``Commands.run_pending``),
so faults are never driven from two threads. ``control.json`` in the run directory (mode 0600) tells a
second terminal where the endpoint is and what the token is.
"""

from __future__ import annotations

import hmac
import json
import os
import queue
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as CommandTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib import error as urlerror
from urllib import request as urlrequest

from faultdrill.errors import UsageError

ANNOTATION_KINDS = ("detected", "alerted", "hypothesis", "assessed", "mitigated", "resolved", "note")
COMMAND_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Command:
    verb: str  # inject | heal | reveal | annotate | pause | resume | stop
    fault: str | None = None
    kind: str | None = None
    text: str = ""
    source: str = "control"
    by: str = ""  # who marked (an annotation from the web console carries its author's name)


class Commands:
    """A queue of commands with a result each; executed by whoever calls ``run_pending``."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Command, Future[dict[str, Any]]]] = queue.Queue()

    def submit(self, command: Command) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        self._queue.put((command, future))
        return future

    def run_pending(self, execute: Callable[[Command], dict[str, Any]]) -> None:
        while True:
            try:
                command, future = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(execute(command))
            except Exception as exc:
                future.set_exception(exc)


class ControlServer:
    """Context manager: serves ``/state`` and the commands on 127.0.0.1, behind a bearer token."""

    def __init__(self, commands: Commands, state: Callable[[], dict[str, Any]], run_dir: Path,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise UsageError(f"the control endpoint binds to loopback only, not {host!r}")
        self.commands = commands
        self.state = state
        self.run_dir = run_dir
        self.token = secrets.token_urlsafe(24)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="control",
                                        daemon=True)  # polls for shutdown every 50 ms: the drill ends at once

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ControlServer:
        self._thread.start()
        path = self.run_dir / "control.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"url": self.url, "token": self.token, "pid": os.getpid()}, fh)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        (self.run_dir / "control.json").unlink(missing_ok=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                given = self.headers.get("Authorization", "")
                if hmac.compare_digest(given.encode(), f"Bearer {server.token}".encode()):
                    return True
                self._reply(401, {"error": "missing or wrong token (see control.json in the run directory)"})
                return False

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path == "/state":
                    self._reply(200, server.state())
                else:
                    self._reply(404, {"error": f"no such path {self.path}"})

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                    command = _command_for(self.path, body)
                except (ValueError, KeyError) as exc:
                    self._reply(400, {"error": str(exc)})
                    return
                future = server.commands.submit(command)
                try:
                    self._reply(200, future.result(timeout=COMMAND_TIMEOUT_S))
                except CommandTimeout:
                    self._reply(503, {"error": "the drill did not take the command in time (is it ending?)"})
                except Exception as exc:
                    self._reply(409, {"error": str(exc)})

        return Handler


def _command_for(path: str, body: dict[str, Any]) -> Command:
    parts = [p for p in path.split("/") if p]
    if len(parts) == 3 and parts[0] == "faults" and parts[2] in ("inject", "heal", "reveal"):
        return Command(parts[2], fault=urllib.parse.unquote(parts[1]))
    if parts == ["annotations"]:
        kind = str(body.get("kind", "note"))
        if kind not in ANNOTATION_KINDS:
            raise ValueError(f"annotation kind must be one of {', '.join(ANNOTATION_KINDS)}")
        return Command("annotate", kind=kind, text=str(body.get("text", ""))[:500])
    if parts == ["stop"]:
        return Command("stop", text=str(body.get("reason", "stopped by the facilitator")))
    raise ValueError(f"unknown command path {path}")


class ControlClient:
    """The second terminal's side: ``faultdrill inject/heal/reveal/annotate/stop RUN``."""

    def __init__(self, url: str, token: str, timeout: float = 20.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    @classmethod
    def for_run(cls, results: Path, run_id: str) -> ControlClient:
        path = results / run_id / "control.json"
        if not path.is_file():
            raise UsageError(f"no live drill {run_id!r} under {results} (no control.json)",
                             hint="start one with `faultdrill gameday SCENARIO`; pass --results if elsewhere")
        data = json.loads(path.read_text())
        return cls(data["url"], data["token"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urlrequest.Request(self.url + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urlrequest.urlopen(req, timeout=self.timeout) as resp:
                answer: dict[str, Any] = json.loads(resp.read())
                return answer
        except urlerror.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise UsageError(f"the drill refused: {detail}") from None
        except (urlerror.URLError, OSError) as exc:
            raise UsageError(f"cannot reach the live drill at {self.url}: {exc}",
                             hint="has it ended? its results are in the run directory") from None

    def state(self) -> dict[str, Any]:
        return self.call("GET", "/state")

    def fault(self, verb: str, name: str) -> dict[str, Any]:
        return self.call("POST", f"/faults/{urllib.parse.quote(name, safe='')}/{verb}")

    def annotate(self, kind: str, text: str = "") -> dict[str, Any]:
        return self.call("POST", "/annotations", {"kind": kind, "text": text})

    def stop(self, reason: str = "stopped by the facilitator") -> dict[str, Any]:
        return self.call("POST", "/stop", {"reason": reason})
