"""A drill on another Docker engine, reached over TCP (DOCKER_HOST=tcp://127.0.0.1:PORT).

The test starts a second ``dockerd`` of its own (own data root, exec root, pidfile, containerd
namespace, address pool, a default bridge of its own; no iptables of its own), loads the two images a tiny drill
needs into it (``docker save | docker load``), and runs the drill there. Reading a container's
sockets from this host's /proc is not trusted for an engine reached over TCP, so the health ``tcp:``
probe and the connection sampler use their in-container fallback — and run.json says so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultdrill.drill import run_drill
from faultdrill.scenario import load_scenario

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
POOL = "10.219.0.0/16"  # the second engine's networks: apart from the first engine's
FORWARD = ["FORWARD", "-s", POOL, "-d", POOL, "-j", "ACCEPT"]  # its bridges' traffic (br_netfilter is on)
# Its default bridge, made here: a dockerd started with ``--bridge none`` deletes ``docker0`` — the first
# engine's, in the same network namespace — and every other test's container would then fail to start.
BRIDGE, BRIDGE_ADDRESS = "fd2br0", "10.218.0.1/24"

SCENARIO = f"""
name: remote-engine
stack:
  services:
    backend:
      build: {REPO / "docker" / "smoke"}
      env: {{ROLE: backend}}
      health: {{tcp: 8000, timeout: 30s}}
    web:
      build: {REPO / "docker" / "smoke"}
      env: {{ROLE: web, BACKEND_URL: "http://${{proxy.backend}}/", BACKEND_TIMEOUT_S: 5}}
      ports: [8000]
      health: {{http: /healthz, timeout: 30s}}
      depends_on: [backend]
proxies:
  backend: {{upstream: "backend:8000"}}
load:
  journeys: builtin:smoke
  host: ${{service.web.url}}
  shape:
    - {{until: 6s, users: 4, spawn_rate: 4}}
checks:
  - {{name: no errors, metric: error_rate, window: run, max: 0.01}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def second_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        pytest.skip("needs dockerd and root to start a second engine")
    root = tmp_path_factory.mktemp("dockerd2")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    had_docker0 = Path("/sys/class/net/docker0").exists()
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)  # a crashed earlier run's
    for step in (["add", BRIDGE, "type", "bridge"], ["set", BRIDGE, "up"]):
        subprocess.run(["ip", "link", *step], check=True, timeout=20)
    subprocess.run(["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE], check=True, timeout=20)
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "docker.pid"), "-H", url, "--bridge", BRIDGE, "--iptables=false",
         "--ip-masq=false", "--default-address-pool", f"base={POOL},size=24",
         "--containerd-namespace", "fd-second", "--containerd-plugins-namespace", "fd-second-plugins"],
        stdout=log, stderr=log, start_new_session=True)
    subprocess.run(["iptables", "-I", *FORWARD], check=True, timeout=20)
    env = dict(os.environ, DOCKER_HOST=url)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], env=env, capture_output=True).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, (root / "dockerd.log").read_text()[-3000:]
            time.sleep(0.5)
        # the first engine is left alone: its default bridge is still there for every other test
        assert Path("/sys/class/net/docker0").exists() or not had_docker0, "the second engine deleted docker0"
        tags = _images_for_the_drill()
        save = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE)
        loaded = subprocess.run(["docker", "load", "-q"], stdin=save.stdout, env=env, capture_output=True,
                                timeout=300)
        assert save.wait(timeout=60) == 0 and loaded.returncode == 0, loaded.stderr
        yield url
    finally:
        subprocess.run(["docker", "rm", "-f", *_all_containers(env)], env=env, capture_output=True, timeout=60)
        subprocess.run(["docker", "network", "prune", "-f"], env=env, capture_output=True, timeout=60)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        subprocess.run(["iptables", "-D", *FORWARD], capture_output=True, timeout=20)
        subprocess.run(["umount", "-R", str(root / "exec")], capture_output=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _all_containers(env: dict[str, str]) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
    return out or ["none"]


def _images_for_the_drill() -> list[str]:
    """The smallest image set: the smoke service image and the Toxiproxy server (built on the local
    engine if missing)."""
    import docker
    from faultdrill.scenario.model import ToxiproxySettings
    from faultdrill.stack.images import ensure_built, ensure_toxiproxy

    client = docker.from_env(timeout=600)
    settings = ToxiproxySettings()
    toxiproxy = ensure_toxiproxy(client, settings.server, settings.official_image)
    return [ensure_built(client, REPO / "docker" / "smoke"), toxiproxy.image]


def test_a_drill_on_an_engine_over_tcp_reads_sockets_inside_the_containers(
        second_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", second_engine)
    monkeypatch.setenv("FAULTDRILL_REAPER", "off")  # its image is not loaded there: a smaller set
    path = tmp_path / "remote.yaml"
    path.write_text(SCENARIO)
    outcome = run_drill(load_scenario(path), None)
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert outcome.exit_code == 0, (outcome.error, run.get("problems"))
    assert run["engine"]["local"] is False and run["engine"]["api"].startswith("http://127.0.0.1:")
    assert "in-container fallback" in run["engine"]["container_reads"]
    # the fallback really read the web container's sockets: the load's connections are in the series
    rows = (outcome.run_dir / "connections.csv").read_text().splitlines()
    assert len(rows) > 3 and any(line.split(",")[-1] not in ("", "0") for line in rows[1:]), rows[:5]
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=faultdrill.run={outcome.run_id}"],
                            env=dict(os.environ, DOCKER_HOST=second_engine), capture_output=True, text=True)
    assert listed.stdout.strip() == ""  # the drill removed what it started, on that engine
