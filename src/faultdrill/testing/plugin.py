"""A pytest plugin (entry point ``pytest11``): run a drill from a test and assert on what it saw.

    def test_release_survives_slow_mail(faultdrill_drill):
        result = faultdrill_drill("scenarios/ci-smoke.yaml", time_scale=0.5)
        assert result.passed, result.failures()
        assert result.window("slow backend")["p50_ms"] > 200
        assert max(v for _, v in result.series("p95_ms") if v) < 2000

Options: ``--faultdrill-results DIR`` (default: pytest's tmp dir per test). When a test that ran
drills fails, its report gets a ``faultdrill`` section: each drill's scenario, run directory, outcome,
failed checks and story figure, so the failure says where to look.

The drill itself is run by the ``faultdrill_runner`` fixture (``faultdrill.drill.run_drill``); a
conftest may override it, e.g. to record calls or to replay a finished run without Docker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin loads in every pytest run of this environment: keep its import light
    from faultdrill.drill import DrillOptions, DrillOutcome
    from faultdrill.scenario.loader import LoadedScenario

    DrillRunner = Callable[[LoadedScenario, DrillOptions], DrillOutcome]

_RESULTS_KEY = pytest.StashKey[list["DrillResult"]]()


@dataclass
class DrillResult:
    """A finished drill, for assertions: its checks, windows and per-second series."""

    outcome: DrillOutcome
    summary: dict[str, Any]
    scenario: str = ""  # the file it ran

    @property
    def passed(self) -> bool:
        return self.outcome.exit_code == 0

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def run_dir(self) -> Path:
        return self.outcome.run_dir

    @property
    def story_png(self) -> Path | None:
        """The run's "what happened" figure (latency, traffic, errors, saturation), if it was drawn."""
        path = self.outcome.run_dir / "story.png"
        return path if path.is_file() else None

    def check(self, name: str) -> dict[str, Any]:
        for check in self.summary.get("checks", []):
            if check["name"] == name:
                return dict(check)
        raise KeyError(f"no check named {name!r}; checks: {[c['name'] for c in self.summary.get('checks', [])]}")

    def failures(self) -> list[str]:
        out = [f"{c['name']}: {c['reason']}" for c in self.summary.get("checks", []) if not c["passed"]]
        if self.outcome.error:
            out.append(self.outcome.error)
        return out

    def window(self, name: str) -> dict[str, Any]:
        return dict(self.summary["windows"][name])

    def series(self, metric: str, request: str | None = None) -> list[tuple[float, float | None]]:
        from faultdrill.analysis.series import series_for
        from faultdrill.recorder.load_series import read_load_seconds

        return series_for(metric, request, read_load_seconds(self.run_dir / "histograms.jsonl"))


    def describe(self) -> list[str]:
        """What a failed test's report says about this drill."""
        lines = [f"drill {self.scenario or self.outcome.run_id}: {self.outcome.status}, exit {self.exit_code}",
                 f"  run directory: {self.run_dir}"]
        lines += [f"  failed: {line}" for line in self.failures()]
        if self.story_png is not None:
            lines.append(f"  what happened: {self.story_png}")
        return lines


def run_for_test(path: str | Path, results: Path, time_scale: float = 1.0,
                 runner: DrillRunner | None = None) -> DrillResult:
    """Load, time-scale and run one drill (with ``runner``, default ``run_drill``); its summary read back."""
    from faultdrill.drill import DrillOptions, run_drill
    from faultdrill.scenario.loader import LoadedScenario, load_scenario
    from faultdrill.scenario.scale import scale_scenario

    loaded = load_scenario(path)
    if time_scale != 1.0:
        loaded = LoadedScenario(scale_scenario(loaded.scenario, time_scale), loaded.path, loaded.text, time_scale)
    outcome = (runner or run_drill)(loaded, DrillOptions(results_dir=results))
    summary_path = outcome.run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return DrillResult(outcome, summary, str(path))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--faultdrill-results", default=None, help="where drills run from tests write their results")


@pytest.fixture
def faultdrill_runner() -> DrillRunner:
    """What runs a drill for ``faultdrill_drill``: the real ``run_drill`` (override it in a conftest)."""
    from faultdrill.drill import run_drill

    return run_drill


@pytest.fixture
def faultdrill_drill(request: pytest.FixtureRequest, tmp_path: Path,
                     faultdrill_runner: DrillRunner) -> Callable[..., DrillResult]:
    """Call with a scenario path (and ``time_scale=``) to run a drill; returns a ``DrillResult``."""
    option = request.config.getoption("--faultdrill-results")
    results = Path(option) if option else tmp_path / "faultdrill-results"
    ran = request.node.stash.setdefault(_RESULTS_KEY, [])

    def run(path: str | Path, time_scale: float = 1.0) -> DrillResult:
        result = run_for_test(path, results, time_scale, faultdrill_runner)
        ran.append(result)
        return result

    return run


@pytest.hookimpl(hookwrapper=True)  # the old-style wrapper: every pytest this plugin may meet has it
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test that ran drills says, in its report, what each drill did and where its files are."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    ran = item.stash.get(_RESULTS_KEY, [])
    if report.failed and ran:
        report.sections.append(("faultdrill", "\n".join(line for result in ran for line in result.describe())))
