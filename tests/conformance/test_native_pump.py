"""faultdrill's native pump: a link with no toxic moves its bytes outside Python, and nothing a client
can notice changes because of it.

The whole conformance suite runs with the pump (``[1-process]``, ``[2-processes]``) and without it
(``[python-path]``). These tests pin what only the handover can get wrong: a direction with no toxic
is really pumped, a toxic takes exactly its direction back and works from its first byte, a close on
either side reaches the other (the pump holds duplicates of both sockets: a missed hand-back would
keep a connection half-open), big transfers keep every byte in order, and ``/metrics`` counts the
pumped bytes while they stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from conformance_support import Upstream, connect, echo, recv_exactly, round_trip_ms, server_process, wait_eof

from faultdrill.toxiproxy_server import ToxiproxyServer, pump

LATENCY_MS = 150

pytestmark = pytest.mark.skipif(bool(os.environ.get("FAULTDRILL_TOXIPROXY_URL")),
                                reason="faultdrill's own server only")


@pytest.fixture(scope="module")
def server() -> Iterator[ToxiproxyServer]:
    previous = os.environ.pop(pump.ENV, None)  # the default: native when built
    try:
        with ToxiproxyServer("127.0.0.1", 0, processes=1, proxy_metrics=True) as running:
            yield running
            assert running.failure is None, running.failure
    finally:
        if previous is not None:
            os.environ[pump.ENV] = previous


def _pumped(server: ToxiproxyServer) -> int:
    """Directions the server's pump holds now."""
    loop = server._loop  # the test looks inside on purpose
    assert loop is not None
    feed = pump.feed_for(loop)
    assert feed is not None, "the server runs without its native pump"
    return len(feed.owners)


def _until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _proxy(server: ToxiproxyServer, name: str, upstream: Upstream) -> int:
    created = requests.post(f"{server.api_url}/proxies", json={"name": name, "listen": "127.0.0.1:0",
                                                               "upstream": upstream.address}, timeout=10)
    assert created.status_code == 201, created.text
    return int(created.json()["listen"].rsplit(":", 1)[1])


@pytest.fixture
def proxied(server: ToxiproxyServer) -> Iterator[Callable[..., int]]:
    names: list[str] = []
    upstreams: list[Upstream] = []

    def make(behaviour: Callable[[socket.socket, Upstream], None] = echo) -> int:
        upstream = Upstream(behaviour)
        upstreams.append(upstream)
        names.append(f"pumped{len(names)}_{os.getpid()}")
        return _proxy(server, names[-1], upstream)

    yield make
    for name in names:
        requests.delete(f"{server.api_url}/proxies/{name}", timeout=10)
    for upstream in upstreams:
        upstream.close()
    assert _until(lambda: _pumped(server) == 0), "the pump still holds a deleted proxy's sockets"


def test_the_native_pump_is_built() -> None:
    assert pump.mode() == "native", (
        "faultdrill was installed without its native pump: install a C compiler and Python's headers "
        "(Debian: gcc python3-dev), then reinstall (pip install -e .)")


def test_a_connection_with_no_toxic_is_pumped_and_a_toxic_takes_back_only_its_direction(
        server: ToxiproxyServer, proxied: Callable[..., int]) -> None:
    port = proxied()
    with connect("127.0.0.1", port) as sock:
        assert round_trip_ms(sock) < LATENCY_MS
        assert _until(lambda: _pumped(server) == 2), "both directions of an idle connection should be pumped"
        name = requests.get(f"{server.api_url}/proxies", timeout=10).json()
        proxy = next(p for p in name.values() if p["listen"].endswith(f":{port}"))["name"]
        toxic = requests.post(f"{server.api_url}/proxies/{proxy}/toxics",
                              json={"type": "latency", "stream": "downstream", "attributes": {"latency": LATENCY_MS}},
                              timeout=10)
        assert toxic.status_code == 200, toxic.text
        assert _pumped(server) == 1  # the upstream direction has no toxic: still pumped
        assert round_trip_ms(sock, b"x" * 1000) >= LATENCY_MS - 1
        assert requests.delete(f"{server.api_url}/proxies/{proxy}/toxics/latency_downstream",
                               timeout=10).status_code == 204
        assert round_trip_ms(sock) < LATENCY_MS


def test_the_client_closing_reaches_the_upstream_through_the_pump(
        server: ToxiproxyServer, proxied: Callable[..., int]) -> None:
    closed = threading.Event()

    def echo_then_note_eof(conn: socket.socket, up: Upstream) -> None:
        echo(conn, up)
        closed.set()

    port = proxied(echo_then_note_eof)
    sock = connect("127.0.0.1", port)
    round_trip_ms(sock)
    assert _until(lambda: _pumped(server) == 2)
    sock.close()
    assert closed.wait(2), "the upstream never saw the client's FIN"
    assert _until(lambda: _pumped(server) == 0)


def test_the_upstream_closing_reaches_the_client_through_the_pump(
        server: ToxiproxyServer, proxied: Callable[..., int]) -> None:
    def one_reply_then_close(conn: socket.socket, up: Upstream) -> None:
        data = conn.recv(100)
        conn.sendall(data)
        time.sleep(0.3)  # long enough for the proxy to hand both directions to the pump

    port = proxied(one_reply_then_close)
    with connect("127.0.0.1", port) as sock:
        round_trip_ms(sock)
        assert _until(lambda: _pumped(server) == 2)
        assert wait_eof(sock, 3) < 2, "the client never saw the upstream close"
    assert _until(lambda: _pumped(server) == 0)


def test_megabytes_through_the_pump_arrive_whole_and_in_order_with_a_slow_reader(
        server: ToxiproxyServer, proxied: Callable[..., int]) -> None:
    port = proxied()
    payload = os.urandom(8 * 1024 * 1024)
    with connect("127.0.0.1", port, timeout=30) as sock:
        round_trip_ms(sock)
        assert _until(lambda: _pumped(server) == 2)
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        received = hashlib.sha256()
        got = 0
        while got < len(payload):
            piece = sock.recv(min(65536, len(payload) - got))
            assert piece, f"EOF after {got} of {len(payload)} bytes"
            received.update(piece)
            got += len(piece)
            if got < 1024 * 1024:
                time.sleep(0.001)  # a slow reader first: the pump's writes fill the socket and hand back
        sender.join(10)
        assert received.hexdigest() == hashlib.sha256(payload).hexdigest()
        assert recv_exactly(sock, 0) == b""
        assert round_trip_ms(sock) < LATENCY_MS  # and the connection goes on


def test_metrics_count_pumped_bytes_while_they_stream(server: ToxiproxyServer, proxied: Callable[..., int]) -> None:
    port = proxied()
    with connect("127.0.0.1", port) as sock:
        round_trip_ms(sock)
        assert _until(lambda: _pumped(server) == 2)
        for _ in range(10):
            round_trip_ms(sock, b"y" * 1000)
        text = requests.get(f"{server.api_url}/metrics", timeout=10).text
        live = {m.group(1): int(m.group(2)) for m in re.finditer(
            rf'^faultdrill_proxy_live_received_bytes_total{{direction="(\w+)",listener="[^"]*:{port}"[^}}]*}} (\d+)$',
            text, re.M)}
        assert live == {"upstream": 10_004, "downstream": 10_004}, text


def test_the_pump_is_off_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pump.ENV, "python")
    assert pump.mode() == "python"
    monkeypatch.setenv(pump.ENV, "bogus")
    with pytest.raises(SystemExit, match="expected auto, native or python"):
        pump.mode()
    loop = asyncio.new_event_loop()
    try:
        monkeypatch.setenv(pump.ENV, "python")
        assert pump.open_feed(loop, lambda reason: None) == "python" and pump.feed_for(loop) is None
    finally:
        loop.close()


class _StoppedPump:
    """The real pump, as seen once its thread has stopped on an error: ``ended()`` raises (``_pump.c``)."""

    def __init__(self, real: object) -> None:
        self.real = real

    def ended(self) -> list[tuple[int, int]]:
        raise OSError(9, "Bad file descriptor")

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_a_pump_that_stops_stops_the_server_and_says_why(upstream_echo: Upstream) -> None:
    previous = os.environ.pop(pump.ENV, None)
    try:
        server = ToxiproxyServer("127.0.0.1", 0, processes=1).start()
    finally:
        if previous is not None:
            os.environ[pump.ENV] = previous
    try:
        port = _proxy(server, "doomed", upstream_echo)
        with connect("127.0.0.1", port) as sock:
            round_trip_ms(sock)
            assert _until(lambda: _pumped(server) == 2)
            loop = server._loop
            assert loop is not None
            feed = pump.feed_for(loop)
            assert feed is not None
            feed.pump = _StoppedPump(feed.pump)
            os.write(feed.pump.fileno(), (1).to_bytes(8, "little"))  # the thread's last word: "look at me"
            assert _until(lambda: server.failure is not None, timeout=5), "the server kept running without its pump"
            assert "native pump stopped" in (server.failure or "")
            assert wait_eof(sock, 3) < 3  # and its connections are closed, not left hanging
    finally:
        server.stop()


@pytest.fixture
def upstream_echo() -> Iterator[Upstream]:
    up = Upstream(echo)
    yield up
    up.close()


def test_a_spike_fits_under_a_host_shells_open_files_limit(upstream_echo: Upstream) -> None:
    """``faultdrill toxiproxy serve`` from a shell whose soft limit is low: the server lifts it to the hard
    limit (as Go's runtime does for the official server), so the pump's duplicates do not cap a spike."""
    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 8192))

    server, lines = server_process("--host", "127.0.0.1", "--port", "0", "--processes", "1",
                                   preexec_fn=low_soft_limit)
    sockets: list[socket.socket] = []
    try:
        assert any("open files limit raised from 256 to 8192" in line for line in lines), lines
        api_port = re.search(r"starting on 127\.0\.0\.1:(\d+)", lines[-1])
        assert api_port, lines
        created = requests.post(f"http://127.0.0.1:{api_port.group(1)}/proxies",
                                json={"name": "spike", "listen": "127.0.0.1:0", "upstream": upstream_echo.address},
                                timeout=10)
        port = int(created.json()["listen"].rsplit(":", 1)[1])
        for _ in range(200):  # 200 connections: ~800 descriptors in the server with the pump
            sockets.append(connect("127.0.0.1", port))
            round_trip_ms(sockets[-1])
        assert all(round_trip_ms(sock) < 1000 for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
        server.terminate()
        server.wait(20)
