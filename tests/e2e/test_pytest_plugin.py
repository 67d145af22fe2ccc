"""The pytest plugin, used the way a team would: a time-scaled drill asserted on from a test."""

from __future__ import annotations

import pytest

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
