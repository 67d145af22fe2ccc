"""Compose stacks in real Docker: transparent proxies, the user's things left alone, attach mode."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import docker
from faultdrill.scenario.loader import parse_scenario
from faultdrill.stack import images
from faultdrill.stack.cleanup import clean
from faultdrill.stack.stack import DockerStack
from tests.helpers import BUSY_SLACK_S, ROOT, labelled, wait_for

pytestmark = pytest.mark.docker

SMOKE_DIR = ROOT / "docker" / "smoke"

COMPOSE = """\
services:
  web:
    image: {image}
    environment:
      ROLE: web
      BACKEND_URL: http://backend:8000/
    ports: ["8000"]
    depends_on:
      backend: {{condition: service_healthy}}
    volumes:
      - ./static:/srv/static:ro
      - scratch:/scratch
  backend:
    image: {image}
    environment: {{ROLE: backend}}
    healthcheck:
      test: ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8000), 2)"]
      interval: 1s
    volumes:
      - keep:/keep
volumes:
  scratch:
  keep: {{external: true, name: {keep}}}
"""

SCENARIO = """\
name: compose-it
stack: {stack}
proxies:
  backend: {{upstream: "backend:8000"}}
load:
  journeys: builtin:smoke
  host: {host}
  shape: [{{until: 10s, users: 1}}]
"""


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env(timeout=300)


@pytest.fixture(scope="module")
def user_image(client: docker.DockerClient, base_image: str) -> str:
    """A prebuilt image of the user's (the compose file names it with image:)."""
    return images.ensure_built(client, SMOKE_DIR)


@pytest.fixture()
def user_volume(client: docker.DockerClient):  # type: ignore[no-untyped-def]
    volume = client.volumes.create(f"fdtest-keep-{uuid.uuid4().hex[:8]}")  # the user's: no faultdrill label
    yield volume.name
    volume.remove(force=True)


def compose_project(tmp_path: Path, image: str, keep: str) -> Path:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<h1>the user's file</h1>\n")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.format(image=image, keep=keep))
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(SCENARIO.format(stack="{compose: docker-compose.yml}", host="${service.web.url}"))
    return scenario


def _get(url: str) -> tuple[float, dict]:
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    return time.monotonic() - start, body


def _answers(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


def test_a_transparent_proxy_carries_the_apps_unchanged_traffic(tmp_path: Path, client, user_image: str,
                                                              user_volume: str) -> None:
    scenario_path = compose_project(tmp_path, user_image, user_volume)
    scenario = parse_scenario(scenario_path.read_text(), str(scenario_path), base_dir=tmp_path)
    run_id = f"test-compose-{uuid.uuid4().hex[:6]}"
    with DockerStack(client, scenario, tmp_path, run_id) as stack:
        assert stack.addresses is not None and stack.toxiproxy is not None and stack.info is not None
        web = f"http://127.0.0.1:{stack.addresses.services['web'].ports[8000]}/"
        env = stack.containers["web"].attrs["Config"]["Env"]
        assert "BACKEND_URL=http://backend:8000/" in env  # the app's config as the compose file wrote it
        # web has no healthcheck: started is all compose promises
        assert wait_for(lambda: _answers(web), 15 + BUSY_SLACK_S)
        _, body = _get(web)
        assert body["backend"]["role"] == "backend"
        # fastest of three each time: a busy machine only adds time to some calls, the toxic to all of them;
        # a toxic well above that noise, judged with 200 ms of room for it
        fast = min(_get(web)[0] for _ in range(3))
        stack.toxiproxy.add_toxic("backend", "slow", "latency", {"latency": 800})
        slow = min(_get(web)[0] for _ in range(3))
        stack.toxiproxy.remove_toxic("backend", "slow")
        assert slow >= fast + 0.6, (fast, slow)  # every web -> backend call went through the proxy
        assert min(_get(web)[0] for _ in range(3)) < slow - 0.6
        assert stack.info.wiring == [{"proxy": "backend", "transparent": True, "address": "backend:8000",
                                      "upstream": "fd-direct-backend:8000", "service": "backend", "clients": ["web"]}]
    assert labelled(run_id) == []


def test_the_users_image_volume_and_bind_mount_survive_teardown_and_clean(tmp_path: Path, client, user_image: str,
                                                                        user_volume: str) -> None:
    scenario_path = compose_project(tmp_path, user_image, user_volume)
    scenario = parse_scenario(scenario_path.read_text(), str(scenario_path), base_dir=tmp_path)
    run_id = f"test-compose-{uuid.uuid4().hex[:6]}"
    with DockerStack(client, scenario, tmp_path, run_id) as stack:
        scratch = client.volumes.get(f"fd-{run_id}-scratch")  # the compose file's own volume: made for the run
        assert scratch.attrs["Labels"]["faultdrill.run"] == run_id
        mounts = {m["Destination"]: m for m in stack.containers["backend"].attrs["Mounts"]}
        assert mounts["/keep"]["Name"] == user_volume
        result = stack.containers["web"].exec_run(["cat", "/srv/static/index.html"])
        assert result.output.decode() == "<h1>the user's file</h1>\n"
    clean(client, run_id)
    clean(client)  # even an unscoped clean leaves what is not labelled by a run
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(f"fd-{run_id}-scratch")
    assert client.volumes.get(user_volume).name == user_volume
    assert images.image_exists(client, user_image)
    assert sorted(p.name for p in (tmp_path / "static").iterdir()) == ["index.html"]
    assert (tmp_path / "static" / "index.html").read_text() == "<h1>the user's file</h1>\n"


def test_attach_mode_leaves_the_running_stack_running_and_healed(tmp_path: Path, client, user_image: str) -> None:
    net = client.networks.create(f"fdtest-net-{uuid.uuid4().hex[:8]}")
    backend = None
    try:
        backend = client.containers.run(user_image, detach=True, name=f"{net.name}-backend",
                                        environment={"ROLE": "backend"}, network=net.name,
                                        networking_config={net.name: client.api.create_endpoint_config(aliases=["backend"])})
        scenario_path = tmp_path / "attach.yaml"
        scenario_path.write_text(SCENARIO.format(stack=f"{{attach: {{network: {net.name}}}}}", host="${proxy.backend.url}"))
        scenario = parse_scenario(scenario_path.read_text(), str(scenario_path), base_dir=tmp_path)
        run_id = f"test-compose-{uuid.uuid4().hex[:6]}"
        with DockerStack(client, scenario, tmp_path, run_id) as stack:
            assert stack.addresses is not None and stack.toxiproxy is not None
            url = f"http://127.0.0.1:{stack.addresses.proxies['backend'].host_port}/"
            assert wait_for(lambda: _answers(url), 15 + BUSY_SLACK_S)
            _, body = _get(url)
            assert body["role"] == "backend"  # through Toxiproxy, which joined the user's network
            stack.toxiproxy.add_toxic("backend", "slow", "latency", {"latency": 300})
            assert _get(url)[0] >= 0.25
            toxiproxy_name = stack.toxiproxy_container.name  # type: ignore[union-attr]
        backend.reload()
        assert backend.status == "running"
        net.reload()
        assert [c.name for c in net.containers] == [backend.name]  # Toxiproxy left; nothing else touched
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(toxiproxy_name)
        assert labelled(run_id) == []
    finally:
        if backend is not None:
            backend.remove(force=True)
        net.remove()


def test_attaching_to_a_missing_network_or_name_is_an_infra_error(tmp_path: Path, client) -> None:
    from faultdrill.errors import InfraError

    scenario_path = tmp_path / "attach.yaml"
    scenario_path.write_text(SCENARIO.format(stack="{attach: {network: fdtest-no-such-net}}", host="${proxy.backend.url}"))
    scenario = parse_scenario(scenario_path.read_text(), str(scenario_path), base_dir=tmp_path)
    with (pytest.raises(InfraError, match="no Docker network 'fdtest-no-such-net'"),
          DockerStack(client, scenario, tmp_path, f"test-compose-{uuid.uuid4().hex[:6]}")):
        pass
    net = client.networks.create(f"fdtest-empty-{uuid.uuid4().hex[:8]}")
    try:
        scenario_path.write_text(SCENARIO.format(stack=f"{{attach: {{network: {net.name}}}}}", host="${proxy.backend.url}"))
        scenario = parse_scenario(scenario_path.read_text(), str(scenario_path), base_dir=tmp_path)
        run_id = f"test-compose-{uuid.uuid4().hex[:6]}"
        with (pytest.raises(InfraError, match=f"on network {net.name}, nothing answers to backend:8000"),
              DockerStack(client, scenario, tmp_path, run_id)):
            pass
        assert labelled(run_id) == []
        net.reload()
        assert net.containers == []
    finally:
        net.remove()


ONE_SHOT = """\
services:
  migrate:
    image: {image}
    command: ["python3", "-c", "import sys; print('migrating'); sys.exit({code})"]
  web:
    image: {image}
    environment: {{ROLE: backend}}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
"""


@pytest.mark.parametrize("code", [0, 3])
def test_a_one_shot_dependency_is_waited_for_until_it_exits(tmp_path: Path, client, user_image: str, code: int) -> None:
    from faultdrill.errors import InfraError

    (tmp_path / "docker-compose.yml").write_text(ONE_SHOT.format(image=user_image, code=code))
    scenario_path = tmp_path / "drill.yaml"
    scenario_path.write_text(SCENARIO.format(stack="{compose: docker-compose.yml}", host="http://127.0.0.1:1")
                             .replace('proxies:\n  backend: {upstream: "backend:8000"}\n', ""))
    scenario = parse_scenario(scenario_path.read_text(), str(scenario_path), base_dir=tmp_path)
    run_id = f"test-compose-{uuid.uuid4().hex[:6]}"
    if code == 0:
        with DockerStack(client, scenario, tmp_path, run_id) as stack:
            assert stack.info is not None and stack.info.services["migrate"]["completed_after_s"] is not None
            stack.containers["web"].reload()
            assert stack.containers["web"].status == "running"  # started only after migrate exited 0
    else:
        with (pytest.raises(InfraError, match=r"(?s)'migrate' exited with code 3.*migrating"),
              DockerStack(client, scenario, tmp_path, run_id)):
            pass
    assert labelled(run_id) == []
