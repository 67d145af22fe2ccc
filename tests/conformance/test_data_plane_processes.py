"""faultdrill's server with data-plane helper processes (``--processes``): what a client can tell.

The whole conformance suite already runs against a two-process server (``conftest.target``); these
tests pin what only several processes can get wrong: connections really land in each process, a
toxic reaches every connection whichever process holds it, ``/metrics`` counts them all, and a lost
helper stops the server with exit code 1 instead of leaving part of the traffic unfaulted.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conformance_support import SRC, Upstream, connect, echo, recv_exactly, server_process

from faultdrill.toxiproxy_server import ToxiproxyServer

CONNECTIONS = 40
LATENCY_MS = 200

pytestmark = pytest.mark.skipif(bool(os.environ.get("FAULTDRILL_TOXIPROXY_URL")),
                                reason="faultdrill's own server only")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream(echo)
    yield up
    up.close()


def _holders(port: int) -> Counter[int]:
    """Established connections on ``port``'s side of the proxy, by the pid that holds them (once per
    connection: the native pump holds duplicates of a socket's descriptor in the same process)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return Counter(int(pids.pop()) for line in out.splitlines()
                   if len(pids := set(re.findall(r"pid=(\d+)", line))) == 1)


def _round_trips_ms(sockets: list[socket.socket]) -> list[float]:
    """Each connection's round trip, all sent at once (so 40 toxic delays take one)."""
    sent = []
    for sock in sockets:
        sent.append(time.perf_counter())
        sock.sendall(b"ping")
    elapsed = []
    for sock, began in zip(sockets, sent):
        assert recv_exactly(sock, 4) == b"ping"
        elapsed.append((time.perf_counter() - began) * 1000)
    return elapsed


def _metric(text: str, name: str) -> int:
    match = re.search(rf'^{name}{{proxy="spread"}} (\d+)$', text, re.M)
    assert match, f"{name} missing from /metrics:\n{text}"
    return int(match.group(1))


def test_connections_land_in_both_processes_and_every_one_takes_the_toxic(upstream: Upstream) -> None:
    with ToxiproxyServer("127.0.0.1", 0, processes=2, proxy_metrics=True) as server:
        api = server.api_url
        created = requests.post(f"{api}/proxies", json={"name": "spread", "listen": "127.0.0.1:0",
                                                        "upstream": upstream.address}, timeout=10)
        assert created.status_code == 201, created.text
        port = int(created.json()["listen"].rsplit(":", 1)[1])
        sockets = [connect("127.0.0.1", port) for _ in range(CONNECTIONS)]
        try:
            _round_trips_ms(sockets)
            holders = _holders(port)
            assert sum(holders.values()) == CONNECTIONS
            assert len(holders) == 2, f"every connection in one process: {holders}"
            assert os.getpid() in holders  # the API process (this test's) serves some too

            toxic = requests.post(f"{api}/proxies/spread/toxics",
                                  json={"type": "latency", "attributes": {"latency": LATENCY_MS}}, timeout=10)
            assert toxic.status_code == 200, toxic.text
            slowed = _round_trips_ms(sockets)
            # 1 ms of slack: the toxic's clock and this one tick apart
            assert min(slowed) >= LATENCY_MS - 1, f"a connection missed the toxic: {sorted(slowed)[:5]} ms"

            metrics = requests.get(f"{api}/metrics", timeout=10).text
            assert _metric(metrics, "faultdrill_proxy_active_connections") == CONNECTIONS
            assert _metric(metrics, "faultdrill_proxy_connections_total") == CONNECTIONS

            assert requests.delete(f"{api}/proxies/spread/toxics/latency_downstream", timeout=10).status_code == 204
            after = _round_trips_ms(sockets)
            assert max(after) < LATENCY_MS - 1, f"a connection kept the removed toxic: {sorted(after)[-5:]} ms"
        finally:
            for sock in sockets:
                sock.close()
        assert server.failure is None


def test_disabling_a_proxy_closes_its_listener_in_every_process(upstream: Upstream) -> None:
    with ToxiproxyServer("127.0.0.1", 0, processes=2) as server:
        api = server.api_url
        created = requests.post(f"{api}/proxies", json={"name": "spread", "listen": "127.0.0.1:0",
                                                        "upstream": upstream.address}, timeout=10)
        port = int(created.json()["listen"].rsplit(":", 1)[1])
        assert requests.post(f"{api}/proxies/spread", json={"enabled": False}, timeout=10).status_code == 200
        for _ in range(20):  # the kernel would hand some of these to a helper still listening
            with pytest.raises(ConnectionRefusedError):
                connect("127.0.0.1", port, timeout=2)
        # and the same port binds again at once (no helper holds it)
        again = requests.post(f"{api}/proxies", json={"name": "again", "listen": f"127.0.0.1:{port}",
                                                      "upstream": upstream.address}, timeout=10)
        assert again.status_code == 201, again.text


def test_a_lost_helper_stops_the_server_with_exit_1_and_says_why() -> None:
    server, lines = server_process("--host", "127.0.0.1", "--port", "0", "--processes", "2")
    try:
        assert server.stdout is not None
        assert "2 data-plane processes" in lines[-1], lines
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        helper = [int(pid) for pid in children if "replica" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(helper) == 1, children
        os.kill(helper[0], signal.SIGKILL)
        code = server.wait(timeout=20)
        rest = server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert code == 1
    assert re.search(r"data-plane process 1 \(pid \d+\) closed its channel.*stopping the server", rest), rest
    assert "Traceback" not in rest


def test_processes_must_be_a_whole_number_or_auto() -> None:
    result = subprocess.run([sys.executable, "-m", "faultdrill.toxiproxy_server", "--processes", "0"],
                            env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "expected auto or a whole number of at least 1, got '0'" in result.stderr
