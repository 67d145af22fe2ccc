"""The run directory's ``scenario.yaml`` is the scenario as it ran: scaled times, secrets redacted,
and it parses back, so ``faultdrill report`` re-judges a time-scaled run with the run's own windows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from faultdrill.errors import InfraError
from faultdrill.recorder.scenario_copy import scenario_as_run, write_scenario_copy
from faultdrill.report import summary
from faultdrill.report.sample import SampleShape, sample_scenario_text, write_sample_run
from faultdrill.scenario import load_scenario, parse_scenario
from faultdrill.scenario.loader import LoadedScenario
from faultdrill.scenario.scale import scale_scenario

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("hunter2", "s3cret")
CHECKS = ("  - {name: errors stay low late in the fault, metric: error_rate, window: {from: 60s, to: 80s}, max: 0.01}\n"
          "  - {name: errors stay low, metric: error_rate, window: run, max: 0.01}\n")


def scaled_with_secrets(tmp_path: Path, factor: float = 0.5) -> LoadedScenario:
    """A file written for a 120 s drill (fault 40–80 s) with a password in env and in a URL, run at ×0.5."""
    text = sample_scenario_text("sample", CHECKS, SampleShape(duration=120, fault_start=40, fault_end=80))
    text = text.replace("    app: {image: example/app, ports: [8000], pids_limit: 64}\n",
                        "    app:\n      image: example/app\n      ports: [8000]\n      env:\n"
                        "        DB_PASSWORD: hunter2\n"
                        "        DATABASE_URL: \"postgresql://app:s3cret@${proxy.db}/tickets\"\n")
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_scenario(path)
    return LoadedScenario(scale_scenario(loaded.scenario, factor), loaded.path, loaded.text, factor)


def test_the_copy_has_the_scaled_times_and_no_secret_and_parses_back(tmp_path: Path) -> None:
    loaded = scaled_with_secrets(tmp_path)
    text = scenario_as_run(loaded)
    assert not any(secret in text for secret in SECRETS)
    assert f"# original: {loaded.path}" in text and hashlib.sha256(loaded.text.encode()).hexdigest() in text
    assert "×0.5" in text
    back = parse_scenario(text, "scenario.yaml")
    assert back.duration == 60 and (back.faults[0].at, back.faults[0].end) == (20, 40)
    assert (back.checks[0].window.from_, back.checks[0].window.to) == (30, 40)
    env = back.stack.services["app"].env
    assert env == {"DB_PASSWORD": "***", "DATABASE_URL": "postgresql://app:***@${proxy.db}/tickets"}
    assert back.model_copy(update={"stack": loaded.scenario.stack}) == loaded.scenario  # all but the secrets


@pytest.mark.parametrize("factor", [1, 0.25])
def test_every_bundled_scenario_survives_the_round_trip(factor: float, example_extension: None) -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        loaded = load_scenario(path)
        scaled = LoadedScenario(scale_scenario(loaded.scenario, factor), loaded.path, loaded.text, factor)
        assert parse_scenario(scenario_as_run(scaled), path.name) == scaled.scenario, path.name


@pytest.mark.usefixtures("no_drawing")  # the verdict, not the drawing
def test_report_rejudges_a_scaled_run_with_the_windows_it_ran_with(tmp_path: Path) -> None:
    loaded = scaled_with_secrets(tmp_path)
    run_dir, _ = write_sample_run(tmp_path / "run", samples=False)  # 60 s of data, the fault at 20–40 s
    write_scenario_copy(run_dir.scenario_copy, loaded)
    as_run = summary.render_all(run_dir, loaded.scenario, "completed", plots=False).summary
    again = summary.render_run(run_dir.path).summary
    assert again["checks"] == as_run["checks"] and again["windows"] == as_run["windows"]
    assert again["duration_s"] == as_run["duration_s"] < 61
    late = again["checks"][0]
    assert late["window"] == "30s–40s" and late["passed"] is False  # inside the fault


def test_the_drill_saves_the_scaled_redacted_copy_and_keeps_the_originals_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import faultdrill.drill as drill

    def no_docker() -> None:
        raise InfraError("Docker is not reachable (test)")

    monkeypatch.setattr(drill, "connect", no_docker)
    loaded = scaled_with_secrets(tmp_path)
    outcome = drill.run_drill(loaded, drill.DrillOptions(results_dir=tmp_path / "results"))
    assert outcome.status == "failed" and outcome.exit_code == 3
    saved = (outcome.run_dir / "scenario.yaml").read_text()
    assert not any(secret in saved for secret in SECRETS)
    assert parse_scenario(saved).faults[0].at == 20
    record = json.loads((outcome.run_dir / "run.json").read_text())
    assert record["scenario"]["path"] == str(loaded.path)
    assert record["scenario"]["sha256"] == hashlib.sha256(loaded.path.read_bytes()).hexdigest()
