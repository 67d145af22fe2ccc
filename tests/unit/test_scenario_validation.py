"""What a user sees when a scenario file is wrong: the file, the line, the field, what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faultdrill.cli import main
from faultdrill.errors import ScenarioError
from faultdrill.scenario import load_scenario, parse_scenario
from faultdrill.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drill.yaml"
    path.write_text(text)
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    return path


VALID = """\
name: t
stack:
  services:
    app:
      build: app
      ports: [8000]
      health: {http: /healthz}
    db:
      image: postgres:15
proxies:
  db: {upstream: "db:5432"}
load:
  journeys: builtin:smoke
  host: ${service.app.url}
  shape:
    - {until: 10s, users: 5}
faults:
  - {name: slow db, at: 2s, for: 3s, toxic: {proxy: db, type: latency, latency: 100ms}}
checks:
  - {name: fast, metric: p95_ms, window: baseline, max: 100}
"""


def test_bundled_scenarios_are_valid(example_extension: None) -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert load_scenario(path).scenario.name


def test_valid_scenario_parses_durations_and_units(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID)).scenario
    assert scenario.duration == 10
    assert scenario.faults[0].at == 2 and scenario.faults[0].end == 5
    assert scenario.faults[0].toxic.api_attributes() == {"latency": 100}


def test_wrong_type_names_its_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = VALID.replace("{until: 10s, users: 5}", "{until: 10s, users: lots}")
    line = text.splitlines().index("    - {until: 10s, users: lots}") + 1
    code = main(["validate", str(write(tmp_path, text))])
    err = capsys.readouterr().err
    assert code == 2
    assert f"drill.yaml:{line}: load.shape[0].users" in err
    assert "'lots'" in err and "Traceback" not in err


def test_unknown_field_lists_allowed_fields(tmp_path: Path) -> None:
    text = VALID.replace("      build: app\n", "      build: app\n      pid_limit: 100\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    problem = info.value.problems[0]
    assert problem.line == 6 and problem.field == "stack.services.app.pid_limit"
    assert "pids_limit" in (problem.allowed or "")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("users: 5", "users: -1").replace("latency: 100ms", "latency: soon")
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    fields = {p.field for p in info.value.problems}
    assert fields == {"load.shape[0].users", "faults[0].toxic.latency"}


@pytest.mark.parametrize("mutation, field, words", [
    (("proxy: db, type", "proxy: cache, type"), "faults[0].toxic.proxy", "no proxy named 'cache'"),
    (("upstream: \"db:5432\"", "upstream: \"redis:6379\""), "proxies.db.upstream", "not a service"),
    (("at: 2s, for: 3s", "at: 2s, for: 30s"), "faults[0].for", "after the drill ends"),
    (("${service.app.url}", "${proxy.db}"), "load.host", "inside the Docker network"),
    (("${service.app.url}", "http://shop.example.com"), "load.host", "refusing to send load"),
    (("window: baseline", "window: lunch"), "checks[0].window", "unknown window"),
    (("build: app", "build: nowhere"), "stack.services.app.build", "no Dockerfile"),
    (("type: latency, latency: 100ms", "type: bandwidth, rate: 0"), "faults[0].toxic", "stalls"),
])
def test_cross_references_are_checked(tmp_path: Path, mutation: tuple[str, str], field: str, words: str) -> None:
    text = VALID.replace(*mutation)
    assert text != VALID
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    matching = [p for p in info.value.problems if p.field == field]
    assert matching, info.value.problems
    assert words in matching[0].message
    assert matching[0].line is not None


def test_explicitly_allowed_remote_host_passes(tmp_path: Path) -> None:
    text = VALID.replace("${service.app.url}", "http://staging.example.com").replace(
        "  shape:", "  allow_hosts: [staging.example.com]\n  shape:")
    assert load_scenario(write(tmp_path, text)).scenario.load.allow_hosts == ["staging.example.com"]


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, "name: t\nstack: [1,\n  2\nload: {"))
    assert info.value.problems[0].line is not None
    assert "not valid YAML" in info.value.problems[0].message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, VALID + "name: again\n"))
    assert info.value.problems[0].message == "key given twice"


def test_missing_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "/nonexistent/drill.yaml"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_service_cycle_is_a_usage_error() -> None:
    from faultdrill.errors import UsageError
    from faultdrill.stack.plan import start_order

    data = yaml.safe_load(VALID)
    data["stack"]["services"]["db"]["depends_on"] = ["app"]
    data["stack"]["services"]["app"]["depends_on"] = ["db"]
    data["stack"]["services"]["app"].pop("build")
    data["stack"]["services"]["app"]["image"] = "x"
    with pytest.raises(ScenarioError, match="app → db → app"):  # validation names it first
        parse_scenario(yaml.safe_dump(data))
    scenario = Scenario.model_validate(data)  # the model alone, as if validation were skipped
    with pytest.raises(UsageError, match="cycle"):
        start_order(scenario)


def test_start_order_follows_proxy_references(tmp_path: Path) -> None:
    from faultdrill.stack.plan import start_order

    scenario = load_scenario(SMOKE).scenario
    assert start_order(scenario) == ["backend", "web"]
