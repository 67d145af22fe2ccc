"""Each fault class on a real stack has the effect a user expects, and healing undoes it.

The stack: `web` calls `backend` through a Toxiproxy proxy (faultdrill's compatible server here),
with a 1 s backend timeout in web, so a stalled hop shows as a 504 and a reset as a 502.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

import docker
from faultdrill.faults.actions import action_for
from faultdrill.scenario import parse_scenario
from faultdrill.scenario.fault_model import Fault
from faultdrill.stack.stack import DockerStack
from tests.helpers import SCENARIOS, labelled

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def stack() -> Iterator[DockerStack]:
    data = yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())
    data["stack"]["services"]["web"]["env"]["BACKEND_TIMEOUT_S"] = "1"
    data["stack"]["services"]["backend"]["ports"] = [8000]
    scenario = parse_scenario(yaml.safe_dump(data), "faults-test", base_dir=SCENARIOS)
    run_id = f"test-faults-{secrets.token_hex(3)}"
    with DockerStack(docker.from_env(), scenario, SCENARIOS, run_id) as running:
        yield running
    assert labelled(run_id) == []


def call(stack: DockerStack, timeout: float = 5.0) -> tuple[int, float, str]:
    assert stack.info is not None
    url = f"http://127.0.0.1:{stack.info.services['web']['ports']['8000']}/"
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, time.monotonic() - start, ""
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - start, exc.read().decode()
    except (TimeoutError, OSError) as exc:
        return 0, time.monotonic() - start, str(exc)


def fastest(stack: DockerStack, tries: int = 3) -> float:
    """The quickest of a few calls: a busy machine only ever adds time, a toxic adds it to every call."""
    return min(call(stack)[1] for _ in range(tries))


def fault(stack: DockerStack, spec: dict):  # type: ignore[no-untyped-def]
    return action_for(Fault.model_validate({"name": f"test {secrets.token_hex(4)}", **spec}), stack.scenario, stack.toxiproxy,
                      stack.containers)


def test_baseline_is_healthy(stack: DockerStack) -> None:
    status, elapsed, _ = call(stack)
    assert status == 200 and elapsed < 1.0


def test_latency_toxic_adds_its_delay(stack: DockerStack) -> None:
    action = fault(stack, {"toxic": {"proxy": "backend", "type": "latency", "latency": "600ms"}})
    action.apply()
    try:
        # every call waits the toxic's 600 ms; web's 1 s timeout leaves 400 ms for the rest, which a busy
        # machine can eat once: one of three calls answers 200 (a 504 would still take at least 600 ms)
        calls = [call(stack) for _ in range(3)]
        assert min(elapsed for _, elapsed, _ in calls) >= 0.6 and 200 in {s for s, _, _ in calls}, calls
    finally:
        action.revert()
    assert fastest(stack) < 0.45  # fast again: the 600 ms are gone from every call


def test_timeout_toxic_stalls_the_hop(stack: DockerStack) -> None:
    # upstream: the request never reaches the backend, which therefore never answers nor closes
    # (downstream, the backend's close after its reply would end the connection, as in Toxiproxy)
    action = fault(stack, {"toxic": {"proxy": "backend", "type": "timeout", "timeout": 0, "stream": "upstream"}})
    action.apply()
    try:
        status, elapsed, body = call(stack)
        assert status == 504 and elapsed >= 0.9, body  # web gave up after its 1 s timeout
    finally:
        action.revert()
    assert call(stack)[0] == 200


def test_reset_peer_resets_connections(stack: DockerStack) -> None:
    action = fault(stack, {"toxic": {"proxy": "backend", "type": "reset_peer", "timeout": 0, "stream": "upstream"}})
    action.apply()
    try:
        status, _, body = call(stack)
        assert status == 502 and "reset" in body.lower(), body
    finally:
        action.revert()
    assert call(stack)[0] == 200


def test_proxy_down_refuses_and_up_restores(stack: DockerStack) -> None:
    action = fault(stack, {"proxy": {"proxy": "backend", "action": "down"}})
    action.apply()
    try:
        status, _, body = call(stack)
        assert status == 502 and "refused" in body.lower(), body
    finally:
        action.revert()
    assert call(stack)[0] == 200


def test_container_pause_stops_responses_and_unpause_restores(stack: DockerStack) -> None:
    action = fault(stack, {"container": {"service": "backend", "action": "pause"}})
    action.apply()
    try:
        stack.containers["backend"].reload()
        assert stack.containers["backend"].status == "paused"
        assert call(stack)[0] == 504
    finally:
        action.revert()
    assert call(stack)[0] == 200


def test_container_kill_and_heal_comes_back_on_the_same_port(stack: DockerStack) -> None:
    before = stack.containers["backend"].attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
    action = fault(stack, {"container": {"service": "backend", "action": "kill"}})
    action.apply()
    try:
        assert call(stack)[0] in (502, 504)
    finally:
        action.revert()
    deadline = time.monotonic() + 15
    while call(stack)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert call(stack)[0] == 200
    stack.containers["backend"].reload()
    assert stack.containers["backend"].attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"] == before


def test_stress_burns_cpu_in_the_container_until_healed(stack: DockerStack) -> None:
    container = stack.containers["backend"]

    def cpu_seconds() -> float:
        stats = container.stats(stream=False, one_shot=True)  # read now, not over the next second
        return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9

    def cores_busy(seconds: float) -> float:
        """The container's CPU seconds per second of wall time, over ``seconds``."""
        a, started = cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds() - a) / (time.monotonic() - started)

    action = fault(stack, {"stress": {"service": "backend", "cpu": 1}})
    action.apply()
    try:
        # one busy loop: a whole core on a quiet machine, its share of two when another test's drill
        # runs beside it (at least 0.3 of a core with five busy processes on two cores)
        stressed = cores_busy(3)
        assert stressed > 0.3, stressed
    finally:
        action.revert()
    time.sleep(0.5)
    idle = cores_busy(3)  # the container's own use: what the rest of the machine does is not counted
    assert idle < 0.25 and stressed > 5 * idle, (stressed, idle)
    assert json.loads(json.dumps(action.describe()))["type"] == "stress"


def test_ramp_and_flapping_drive_the_live_toxic(stack: DockerStack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from faultdrill.clock import RunClock
    from faultdrill.faults.engine import FaultEngine, ScheduledFault
    from faultdrill.faults.journal import Journal, pending
    from faultdrill.recorder.events import EventLog, read_events

    clock = RunClock()
    specs = [Fault.model_validate({"name": "ramp", "at": 0, "for": 4, "ramp": {"latency": "600ms"},
                                   "toxic": {"proxy": "backend", "type": "latency", "latency": "0ms"}})]
    scheduled = [ScheduledFault(f, action_for(f, stack.scenario, stack.toxiproxy, stack.containers)) for f in specs]
    engine = FaultEngine(scheduled, Journal(tmp_path / "journal.jsonl"), EventLog(tmp_path / "e.jsonl", clock),
                         clock.now)
    seen: list[tuple[float, float]] = []
    while clock.now() < 5:
        engine.tick()
        if 0.2 < clock.now() < 4:
            _status, elapsed, _ = call(stack)
            seen.append((clock.now(), elapsed))
        time.sleep(0.1)
    engine.heal_all()
    early = [e for t, e in seen if t < 1.2]  # the toxic at 0-180 ms
    late = [e for t, e in seen if t > 3]  # at 450-600 ms: every late call waits at least 450 ms
    # the live toxic got slower as it ramped; fastest against fastest (a busy machine only adds time to
    # some calls, where the slowest early call could be one of them)
    assert early and late and min(late) > min(early) + 0.3, seen
    assert fastest(stack) < 0.45 and pending(tmp_path / "journal.jsonl") == []
    assert any(e["kind"] == "fault.ramp" for e in read_events(tmp_path / "e.jsonl"))
