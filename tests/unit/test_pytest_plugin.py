"""The pytest plugin as a team meets it, without Docker: pytester runs a test file that uses the
``faultdrill_drill`` fixture, with ``faultdrill_runner`` overridden in its conftest by a fake that
writes what a finished run leaves (summary.json, story.png) from the scenario it was handed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import faultdrill.drill  # noqa: F401 - imported once here: the in-process runs below must not re-import numpy
from tests.helpers import SCENARIOS

pytest_plugins = ["pytester"]

FAKE_RUNNER = '''
import json
from pathlib import Path

import pytest

from faultdrill.drill import DrillOutcome


@pytest.fixture
def faultdrill_runner():
    """Replays a run: what it writes depends only on the (scaled) scenario it is given."""

    def run(loaded, options):
        scenario = loaded.scenario
        run_dir = Path(options.results_dir) / f"{scenario.name}-fake"
        run_dir.mkdir(parents=True, exist_ok=True)
        failing = {c.name for c in scenario.checks if c.name == "no errors"} if FAIL else set()
        checks = [{"name": c.name, "passed": c.name not in failing,
                   "reason": "error_rate 0.2 > max 0.01" if c.name in failing else "ok"} for c in scenario.checks]
        summary = {"duration_s": scenario.duration, "time_scale": loaded.time_scale, "checks": checks,
                   "faults": [{"name": f.name, "start": f.at} for f in scenario.faults],
                   "windows": {"slow backend": {"p50_ms": 210.0}}}
        (run_dir / "summary.json").write_text(json.dumps(summary))
        (run_dir / "story.png").write_bytes(b"png")
        return DrillOutcome(run_dir.name, run_dir, "completed", 1 if failing else 0)

    return run
'''


def project(pytester: pytest.Pytester, fail: bool, test_body: str) -> None:
    pytester.makeconftest(f"FAIL = {fail}\n" + FAKE_RUNNER)
    pytester.makepyfile(test_drill=f"SCENARIO = {str(SCENARIOS / 'smoke.yaml')!r}\n\n" + test_body)


def test_the_fixture_runs_the_scenario_time_scaled_and_answers_with_its_results(pytester: pytest.Pytester) -> None:
    project(pytester, fail=False, test_body='''
def test_release(faultdrill_drill):
    result = faultdrill_drill(SCENARIO, time_scale=0.5)
    assert result.passed, result.failures()
    assert result.summary["duration_s"] == 15 and result.summary["time_scale"] == 0.5
    assert result.summary["faults"] == [{"name": "slow backend", "start": 5.0}]
    assert result.check("no errors")["passed"] and result.window("slow backend")["p50_ms"] == 210.0
    assert result.story_png is not None and result.run_dir.name == "smoke-fake"

def test_unscaled(faultdrill_drill):
    assert faultdrill_drill(SCENARIO).summary["duration_s"] == 30
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "- faultdrill -" not in result.stdout.str()


def test_a_failed_drill_makes_the_test_fail_and_its_report_say_where_to_look(pytester: pytest.Pytester) -> None:
    project(pytester, fail=True, test_body='''
def test_release(faultdrill_drill):
    result = faultdrill_drill(SCENARIO, time_scale=0.5)
    assert result.passed, result.failures()
''')
    results = pytester.path / "drill-results"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--faultdrill-results={results}")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "no errors: error_rate 0.2 > max 0.01" in out  # the assertion message a user wrote
    result.stdout.fnmatch_lines([
        "*- faultdrill -*",
        f"drill {SCENARIOS / 'smoke.yaml'}: completed, exit 1",
        f"  run directory: {results / 'smoke-fake'}",
        "  failed: no errors: error_rate 0.2 > max 0.01",
        f"  what happened: {results / 'smoke-fake' / 'story.png'}",
    ])
    assert json.loads((results / "smoke-fake" / "summary.json").read_text())["duration_s"] == 15


def test_a_passing_test_gets_no_drill_section(pytester: pytest.Pytester) -> None:
    project(pytester, fail=False, test_body='''
def test_release(faultdrill_drill):
    faultdrill_drill(SCENARIO)
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1)
    assert "- faultdrill -" not in result.stdout.str()


def test_a_bad_scenario_fails_the_test_with_the_file_line_and_field(pytester: pytest.Pytester,
                                                                     tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((SCENARIOS / "smoke.yaml").read_text().replace("faults:", "faults:\n  - {name: x, at: soon}", 1))
    project(pytester, fail=False, test_body=f'''
def test_release(faultdrill_drill):
    faultdrill_drill({str(bad)!r})
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*ScenarioError: {bad}:34: faults[[]0[]].at: 'soon' is not a duration*"])
