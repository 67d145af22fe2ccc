"""Helpers shared by the conformance tests: local upstreams, API client, sockets."""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

SRC = Path(__file__).resolve().parents[2] / "src"
HTTP_TIMEOUT = 10.0
SOCKET_TIMEOUT = 5.0
NAME_PREFIX = "fdconf_"


@dataclass
class Target:
    url: str
    proxy_host: str
    ours: bool

class Api:
    """Thin HTTP helper; every call has a timeout and never sends a browser UA."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "faultdrill-conformance/1"

    def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.request(method, self.base + path, json=json, data=data,
                                    headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def delete_all_proxies(self) -> None:
        for name in self.get("/proxies").json():
            self.delete(f"/proxies/{name}")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    block_on_close = False


@dataclass
class Upstream:
    """A threaded TCP server on 127.0.0.1 running ``behaviour(conn, upstream)``."""

    behaviour: Callable[[socket.socket, Upstream], None]
    received: list[bytes] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with outer.lock:
                    outer.connections += 1
                self.request.settimeout(15.0)
                try:
                    outer.behaviour(self.request, outer)
                except OSError:
                    return

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def record(self, data: bytes) -> None:
        with self.lock:
            self.received.append(data)

    def total_received(self) -> bytes:
        with self.lock:
            return b"".join(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def echo(conn: socket.socket, up: Upstream) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            return
        up.record(data)
        conn.sendall(data)


def delayed_echo(conn: socket.socket, up: Upstream) -> None:
    """Replies 150 ms after each read (lets tests see the no-half-close rule)."""
    while True:
        data = conn.recv(65536)
        if not data:
            time.sleep(0.15)
            return
        up.record(data)
        time.sleep(0.15)
        conn.sendall(data)


def ticker(conn: socket.socket, up: Upstream) -> None:
    """Sends one byte every 100 ms for 1 s (and nothing else)."""
    for _ in range(10):
        conn.sendall(b".")
        time.sleep(0.1)
    time.sleep(5)


def unique_name(stem: str = "p") -> str:
    return f"{NAME_PREFIX}{stem}_{uuid.uuid4().hex[:8]}"


@dataclass
class ProxyHandle:
    api: Api
    target: Target
    name: str
    data: dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.data["listen"].rsplit(":", 1)[1])

    @property
    def path(self) -> str:
        return f"/proxies/{self.name}"

    def refresh(self) -> dict[str, Any]:
        self.data = self.api.get(self.path).json()
        return self.data

    def connect(self, timeout: float = SOCKET_TIMEOUT) -> socket.socket:
        return connect(self.target.proxy_host, self.port, timeout)

    def add_toxic(self, toxic_type: str, stream: str = "downstream", toxicity: float | None = None,
                  name: str | None = None, **attributes: int) -> dict[str, Any]:
        body: dict[str, Any] = {"type": toxic_type, "stream": stream, "attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        if name is not None:
            body["name"] = name
        response = self.api.post(f"{self.path}/toxics", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def remove_toxic(self, name: str) -> None:
        response = self.api.delete(f"{self.path}/toxics/{name}")
        assert response.status_code == 204, response.text


def connect(host: str, port: int, timeout: float = SOCKET_TIMEOUT) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = sock.recv(count - len(data))
        if not piece:
            break
        data += piece
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF (raises on reset or timeout)."""
    parts = []
    while True:
        piece = sock.recv(65536)
        if not piece:
            return b"".join(parts)
        parts.append(piece)


def round_trip_ms(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    got = recv_exactly(sock, len(payload))
    elapsed = (time.perf_counter() - start) * 1000
    assert got == payload
    return elapsed


def wait_eof(sock: socket.socket, timeout: float) -> float:
    """Seconds until the peer closes (EOF); data received meanwhile is discarded."""
    start = time.perf_counter()
    sock.settimeout(timeout)
    while True:
        piece = sock.recv(65536)
        if not piece:
            return time.perf_counter() - start


def is_open(sock: socket.socket, wait: float) -> bool:
    """True if nothing closes the socket within ``wait`` seconds (data is ignored)."""
    deadline = time.perf_counter() + wait
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return True
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return False
        except TimeoutError:
            return True
        except ConnectionResetError:
            return False


def server_process(*args: str, preexec_fn: Callable[[], None] | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    """faultdrill's server as its own process (``python3 -m faultdrill.toxiproxy_server ARGS``), and its
    log up to the line that says it serves (the caller stops it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen([sys.executable, "-m", "faultdrill.toxiproxy_server", *args], env=env,
                              preexec_fn=preexec_fn, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    lines: list[str] = []
    for line in server.stdout:
        lines.append(line)
        if "API HTTP server starting" in line:
            break
    return server, lines
