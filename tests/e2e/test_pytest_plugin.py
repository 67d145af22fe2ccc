"""The pytest plugin, used the way a team would: a time-scaled drill asserted on from a test."""

from __future__ import annotations

import json

import pytest

from faultdrill.cli import main
from faultdrill.scenario import parse_scenario
from tests.helpers import SCENARIOS, labelled

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_faultdrill_drill_fixture_runs_a_time_scaled_drill(faultdrill_drill) -> None:  # type: ignore[no-untyped-def]
    result = faultdrill_drill(SCENARIOS / "smoke.yaml", time_scale=0.5)
    assert result.passed, result.failures()
    assert result.summary["duration_s"] == pytest.approx(15, abs=1)  # 30 s drill at half time
    fault = result.summary["faults"][0]
    assert fault["start"] == pytest.approx(5, abs=0.5) and fault["end"] == pytest.approx(10, abs=0.5)
    assert result.window("slow backend")["p50_ms"] >= 200  # the toxic itself is not scaled
    assert result.check("no errors")["passed"]
    series = result.series("p50_ms")
    assert len(series) >= 13 and max(v for _, v in series if v is not None) >= 200
    assert labelled(result.run_dir.name) == []
    saved = parse_scenario((result.run_dir / "scenario.yaml").read_text())  # the scenario as it ran
    assert saved.duration == pytest.approx(15) and saved.faults[0].at == pytest.approx(5)
    before = result.summary["checks"]
    assert main(["report", str(result.run_dir)]) == 0  # re-judged from the copy, with the run's windows
    again = json.loads((result.run_dir / "summary.json").read_text())
    assert again["checks"] == before and again["duration_s"] == result.summary["duration_s"]
