"""examples/extension on a real stack, found by its entry point: dns_override breaks what web's calls
reach and its heal undoes it; the package's resolved_hosts sampler sees both."""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.request

import pytest

import docker
from faultdrill.faults.actions import action_for
from faultdrill.faults.healing import revert_recorded
from faultdrill.plugins.api import SamplerTarget
from faultdrill.plugins.registry import registry
from faultdrill.scenario import load_scenario
from faultdrill.stack.stack import DockerStack
from tests.helpers import SCENARIOS, labelled

pytestmark = pytest.mark.docker


def web_status(stack: DockerStack) -> int:
    assert stack.info is not None
    url = f"http://127.0.0.1:{stack.info.services['web']['ports']['8000']}/"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_dns_override_breaks_web_and_heals_and_the_sampler_sees_it(example_extension: None) -> None:
    scenario = load_scenario(SCENARIOS / "extension-dns.yaml").scenario
    run_id = f"test-ext-{secrets.token_hex(3)}"
    client = docker.from_env()
    with DockerStack(client, scenario, SCENARIOS, run_id) as stack:
        action = action_for(scenario.faults[0], scenario, stack.toxiproxy, stack.containers)
        options = scenario.record.samplers["resolved_hosts"]
        kind = registry().sampler_kind("resolved_hosts")
        [sampler] = kind.samplers(SamplerTarget(stack, scenario.record, client), kind.options_model.model_validate(options))

        def resolved() -> str:
            [row] = sampler.sample()
            return str(row["address"])

        before = resolved()
        assert before not in ("", "192.0.2.1") and web_status(stack) == 200
        action.prepare()
        action.apply()
        started = time.monotonic()
        assert resolved() == "192.0.2.1"
        assert web_status(stack) in (502, 504)  # what a user of web sees: its backend is unreachable
        assert time.monotonic() - started < 10
        action.revert()
        assert resolved() == before and web_status(stack) == 200
        nothing = revert_recorded(action.describe(), docker_client=client)  # healed already: says so, changes nothing
        assert (nothing.healed, nothing.detail) == (False, "no override line left in /etc/hosts")
    assert labelled(run_id) == []
