"""Spec §7 and our extensions: only meaningful against faultdrill's own server.

Where Toxiproxy 2.12.0 crashes the whole process, we answer 400 instead.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conformance_support import Api, ProxyHandle, recv_exactly, round_trip_ms, unique_name

from faultdrill.toxiproxy_server import ToxiproxyServer

pytestmark = pytest.mark.usefixtures("ours_only")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(
    "toxic_type,attributes,fragment",
    [("bandwidth", {"rate": -1}, "rate"),
     ("slicer", {}, "average_size"),
     ("slicer", {"average_size": 0, "size_variation": 0}, "average_size"),
     ("slicer", {"average_size": 1, "size_variation": 50}, "size_variation"),
     ("slicer", {"average_size": 10, "size_variation": 10}, "size_variation")],
)
def test_crashing_attributes_are_refused_with_400(api: Api, echo_proxy: ProxyHandle, toxic_type: str,
                                                  attributes: dict, fragment: str) -> None:
    response = api.post(f"{echo_proxy.path}/toxics", json={"type": toxic_type, "attributes": attributes})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    body = response.json()
    assert list(body) == ["error", "status"] and body["status"] == 400
    assert fragment in body["error"]
    assert api.get(f"{echo_proxy.path}/toxics").json() == []
    with echo_proxy.connect() as sock:  # the server is alive and the proxy unaffected
        assert round_trip_ms(sock) < 150


def test_crashing_update_is_refused_and_toxic_unchanged(api: Api, echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("slicer", average_size=10, size_variation=2, delay=0)
    response = api.patch(f"{echo_proxy.path}/toxics/slicer_downstream",
                         json={"attributes": {"size_variation": 20}})
    assert response.status_code == 400
    assert api.get(f"{echo_proxy.path}/toxics/slicer_downstream").json()["attributes"]["size_variation"] == 2
    echo_proxy.add_toxic("bandwidth", rate=1000)
    response = api.patch(f"{echo_proxy.path}/toxics/bandwidth_downstream", json={"attributes": {"rate": -5}})
    assert response.status_code == 400
    with echo_proxy.connect() as sock:
        sock.sendall(b"x" * 2000)
        assert recv_exactly(sock, 2000) == b"x" * 2000


def test_metrics_route_absent_without_flag(api: Api) -> None:
    response = api.get("/metrics")
    assert response.status_code == 404
    assert response.content == b"404 page not found\n"


def test_metrics_counters_and_extensions(echo_upstream) -> None:
    with ToxiproxyServer("127.0.0.1", 0, proxy_metrics=True) as server:
        api = Api(server.api_url)
        name = unique_name()
        created = api.post("/proxies", json={"name": name, "listen": "127.0.0.1:0",
                                             "upstream": echo_upstream.address}).json()
        port = int(created["listen"].rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        round_trip_ms(sock, b"12345")
        during = api.request("PUT", "/metrics")  # any method
        assert during.status_code == 200
        assert during.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = during.text
        assert "toxiproxy_proxy_received_bytes_total" not in text  # only when a link ends
        assert f'faultdrill_proxy_active_connections{{proxy="{name}"}} 1' in text
        assert re.search(rf'faultdrill_proxy_live_received_bytes_total\{{direction="upstream",'
                         rf'listener="127.0.0.1:{port}",proxy="{name}",upstream="{echo_upstream.address}"\}} 5',
                         text), text
        sock.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            text = api.get("/metrics").text
            if f'faultdrill_proxy_active_connections{{proxy="{name}"}} 0' in text:
                break
            time.sleep(0.05)
        labels = f'listener="127.0.0.1:{port}",proxy="{name}",upstream="{echo_upstream.address}"'
        assert f'toxiproxy_proxy_received_bytes_total{{direction="upstream",{labels}}} 5' in text, text
        assert f'toxiproxy_proxy_sent_bytes_total{{direction="downstream",{labels}}} 5' in text, text
        assert f'faultdrill_proxy_connections_total{{proxy="{name}"}} 1' in text
        api.session.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_go_style_flags_and_graceful_sigterm(tmp_path: Path, echo_upstream) -> None:
    port = _free_port()
    config = tmp_path / "proxies.json"
    config.write_text(f'[{{"name":"fromconfig","listen":"127.0.0.1:0","upstream":"{echo_upstream.address}"}}]')
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen(
        [sys.executable, "-m", "faultdrill.toxiproxy_server", "-host", "127.0.0.1", f"-port={port}",
         "-config", str(config), "-proxy-metrics"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                version = requests.get(url + "/version", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.05)
        assert version.content == b'{"version": "2.12.0+faultdrill"}\n'
        assert requests.get(url + "/proxies/fromconfig", timeout=5).json()["enabled"] is True
        assert requests.get(url + "/metrics", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


def test_cli_version_flag() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-m", "faultdrill.toxiproxy_server", "-version"], env=env,
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0
    assert done.stdout == "toxiproxy-server version 2.12.0+faultdrill\n"


def test_context_manager_reports_port_conflict() -> None:
    with ToxiproxyServer("127.0.0.1", 0) as first, pytest.raises(Exception, match="cannot listen"):
        ToxiproxyServer("127.0.0.1", first.port).start()

