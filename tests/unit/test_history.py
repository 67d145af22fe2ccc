"""Run history: the index, its rebuild, interrupted runs, the trend and the noise-aware gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faultdrill.cli import main
from faultdrill.errors import UsageError
from faultdrill.history.gate import judge, parse_series_gate
from faultdrill.history.store import INDEX_NAME, index_run, open_history
from faultdrill.history.trend import history, trend_lines
from faultdrill.report.compare import noise_aware_gates, parse_gate

CHECK = "pages answer fast"


def make_run(results: Path, i: int, p95: float | None, *, scenario: str = "ci-smoke", status: str = "completed",
             killed: bool = False, sha: str = "abc") -> Path:
    run_id = f"20261201-03{i:02d}00-{scenario}-{i:04x}"
    path = results / run_id
    path.mkdir(parents=True)
    started = f"2026-12-01T03:{i:02d}:00.000+00:00"
    run = {"run_id": run_id, "status": "running" if killed else status, "started": started,
           "git_sha": f"{sha}{i:04d}", "scenario": {"name": scenario, "sha256": "f00"}}
    (path / "run.json").write_text(json.dumps(run), encoding="utf-8")
    if killed:
        (path / "timeseries.csv").write_text("t,wall\n0,x\n", encoding="utf-8")
        return path
    passed = p95 is not None and p95 <= 500
    summary = {
        "schema": "faultdrill.summary/2", "run_id": run_id, "scenario": scenario, "status": status,
        "verdict": ("passed" if passed else "failed") if status == "completed" else "incomplete",
        "error": None if status == "completed" else "stopped", "duration_s": 30.0,
        "windows": {"run": {"window": "run", "seconds": 30, "requests": 300, "failures": 0, "error_rate": 0.0,
                            "rps": 10.0, "p50_ms": p95 and p95 / 3, "p95_ms": p95, "p99_ms": p95 and p95 * 1.5,
                            "max_ms": p95 and p95 * 2}},
        "checks": [{"name": CHECK, "metric": "p95_ms", "window": "run", "value": p95, "max": 500,
                    "passed": passed, "outcome": "passed" if passed else "failed"}] if status == "completed" else [],
        "detection": [{"fault": "slow db", "check": CHECK, "time_to_detect_s": 1.5, "time_to_recover_s": 2.0,
                       "note": "ok"}],
    }
    (path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return path


def series(results: Path, values: list[float | None]) -> None:
    for i, v in enumerate(values):
        make_run(results, i, v)


STEADY_WITH_ONE_NOISY = [100, 102, 98, 101, 240, 99, 100, 103, 97, 104]
CREEP_30 = [100, 101, 99, 100, 102, 98, 100, 101, 99, 130]


def test_steady_series_with_one_noisy_run_holds(tmp_path: Path) -> None:
    series(tmp_path, STEADY_WITH_ONE_NOISY)
    trend = history(tmp_path, fail_if=["p95:+20%", f"check={CHECK}:+20%"], plot=False)
    assert [r.values[CHECK] for r in trend.runs] == STEADY_WITH_ONE_NOISY
    assert not trend.failed
    assert all(v.spread and v.spread.median == 100 for v in trend.verdicts)  # the 240 run moves nothing


def test_a_30_percent_creep_trips_and_the_table_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series(tmp_path, CREEP_30)
    code = main(["history", "--results", str(tmp_path), "--fail-if", "p95:+20%"])
    captured = capsys.readouterr()
    assert code == 1
    assert "TRIPPED" in captured.err and "beyond the bound and outside the noise band" in captured.err
    assert "+30.0 %" in captured.err
    last_row = next(line for line in captured.out.splitlines() if "abc0009" in line)
    assert "130" in last_row and "TRIPPED p95:+20%" in last_row
    assert (tmp_path / "history-ci-smoke.png").stat().st_size > 5000
    assert "history-ci-smoke.png" in captured.out


def test_a_step_creep_of_30_percent_half_way_trips(tmp_path: Path) -> None:
    series(tmp_path, [100, 100, 101, 99, 100, 130, 131, 129, 130, 132])
    trend = history(tmp_path, fail_if=["p95:+20%"], plot=False)
    assert trend.failed


def test_beyond_the_bound_but_inside_the_noise_band_holds(tmp_path: Path) -> None:
    series(tmp_path, [100, 140, 70, 130, 80, 120, 60, 135, 90, 125])  # a noisy service: +25 % is its normal
    trend = history(tmp_path, fail_if=["p95:+20%"], plot=False)
    assert not trend.failed
    assert "inside the noise band" in trend.verdicts[0].reason


def test_a_fall_gate_and_last_n(tmp_path: Path) -> None:
    series(tmp_path, [100] * 6 + [60])
    trend = history(tmp_path, fail_if=["p95:-20%"], last=4, plot=False)
    assert len(trend.runs) == 4 and trend.failed
    assert trend.verdicts[0].spread.n == 3


def test_gate_fails_closed_without_a_value_or_a_reference() -> None:
    gate = parse_series_gate("p95:+20%")
    assert judge(gate, None, [100, 100]).tripped
    assert judge(gate, 100, []).tripped
    assert not judge(gate, 100, [100]).tripped


def test_the_index_holds_checks_windows_and_detection(tmp_path: Path) -> None:
    series(tmp_path, [100, 600])
    with open_history(tmp_path) as store:
        runs = store.runs("ci-smoke")
        assert [r["status"] for r in runs] == ["passed", "failed"]
        assert runs[1]["git_sha"] == "abc0001" and runs[1]["started"].startswith("2026-12-01T03:01")
        assert store.check_values(runs[1]["run_id"]) == {CHECK: (600, "failed")}
        assert store.window_value(runs[1]["run_id"], "run", "p99_ms") == 900
        assert store.detection(runs[0]["run_id"])[0]["time_to_detect_s"] == 1.5


def test_a_deleted_index_is_rebuilt(tmp_path: Path) -> None:
    series(tmp_path, [100, 101, 102])
    history(tmp_path, plot=False)
    (tmp_path / INDEX_NAME).unlink()
    trend = history(tmp_path, plot=False)
    assert len(trend.runs) == 3
    assert any("built" in n for n in trend.notes)


def test_a_corrupted_index_is_rebuilt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series(tmp_path, [100, 101, 102])
    history(tmp_path, plot=False)
    (tmp_path / INDEX_NAME).write_bytes(b"this is not a database" * 100)
    assert main(["history", "--results", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "unreadable" in captured.err and "rebuilt" in captured.err
    assert captured.out.count("passed") == 3


def test_a_killed_run_is_indexed_as_interrupted_and_reindexed_when_it_changes(tmp_path: Path) -> None:
    series(tmp_path, [100, 101])
    killed = make_run(tmp_path, 2, None, killed=True)
    trend = history(tmp_path, fail_if=["p95:+20%"], plot=True)
    assert trend.runs[-1].status == "interrupted" and "killed" in trend.runs[-1].note
    assert trend.failed  # the newest run has no value: the gate fails closed
    assert "interrupted" in "\n".join(trend_lines(trend))
    # a later summary (e.g. `faultdrill report`) makes it a judged run on the next look
    import shutil
    shutil.rmtree(killed)
    make_run(tmp_path, 2, 102)
    trend = history(tmp_path, fail_if=["p95:+20%"], plot=False)
    assert trend.runs[-1].status == "passed" and not trend.failed


def test_interrupted_and_aborted_runs_stay_out_of_the_reference(tmp_path: Path) -> None:
    series(tmp_path, [100, 100, 100])
    make_run(tmp_path, 3, 10, status="aborted")
    make_run(tmp_path, 4, 101)
    trend = history(tmp_path, fail_if=["p95:+20%"], plot=False)
    assert [r.status for r in trend.runs] == ["passed"] * 3 + ["aborted", "passed"]
    assert trend.verdicts[0].spread.n == 3


@pytest.mark.parametrize("bad", ["p95", "p95:20%", "p95:+20 percent", "latency:+20%", "error_rate:+5ms",
                                 "check=:+20%", f"check={CHECK}", f"check={CHECK}:+20ms"])
def test_bad_fail_if_is_exit_2_with_what_is_allowed(tmp_path: Path, bad: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    series(tmp_path, [100, 101])
    assert main(["history", "--results", str(tmp_path), "--fail-if", bad]) == 2
    err = capsys.readouterr().err
    assert "bad --fail-if" in err and "check=NAME" in err and "Traceback" not in err


def test_unknown_check_or_scenario_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series(tmp_path, [100, 101])
    assert main(["history", "--results", str(tmp_path), "--check", "nope"]) == 2
    assert CHECK in capsys.readouterr().err  # says which checks exist
    assert main(["history", "nope", "--results", str(tmp_path)]) == 2
    assert main(["history", "--results", str(tmp_path / "missing")]) == 2


def test_index_run_never_raises(tmp_path: Path) -> None:
    run = make_run(tmp_path, 0, 100)
    (tmp_path / INDEX_NAME).mkdir()  # cannot be opened as a database file
    problem = index_run(tmp_path, run)
    assert problem and "history index" in problem and "faultdrill history" in problem


def test_index_run_adds_the_run(tmp_path: Path) -> None:
    run = make_run(tmp_path, 0, 100)
    assert index_run(tmp_path, run) is None
    with open_history(tmp_path, sync=False) as store:
        assert [r["run_id"] for r in store.runs()] == [run.name]


def _summary(p95: float) -> dict:
    return {"windows": {"run": {"p95_ms": p95}}}


def test_compare_gate_with_several_baselines_is_noise_aware() -> None:
    gate = parse_gate("p95:+20%")
    baselines = [_summary(v) for v in (100, 101, 240, 99, 100)]
    held = noise_aware_gates([gate], baselines, _summary(105))[0]
    assert not held.tripped and held.a == 100
    tripped = noise_aware_gates([gate], baselines, _summary(131))[0]
    assert tripped.tripped and "outside the noise band" in tripped.reason


def test_compare_needs_two_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["compare", str(tmp_path)]) == 2
    assert "at least two" in capsys.readouterr().err


def test_parse_series_gate_check_name_with_colon() -> None:
    gate = parse_series_gate("check=p95: web:+10%")
    assert gate.check == "p95: web" and gate.gate.relative and gate.gate.amount == 10
    with pytest.raises(UsageError):
        parse_series_gate("check=x:+1ms")


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two 100 ms reference runs and a 130 ms candidate, written and judged like real runs."""
    from faultdrill.report.sample import SampleShape, write_sample_run
    from faultdrill.report.summary import render_all

    root = tmp_path_factory.mktemp("compare-many")
    paths = []
    for name, ms in (("ref-1", 100), ("ref-2", 100), ("cand", 130)):
        run, scenario = write_sample_run(root / name, samples=False,
                                         shape=SampleShape(base_ms=ms, fault_ms=300, fault_error_rate=0.0,
                                                           failing_profile=None))
        render_all(run, scenario, "completed", plots=False)
        paths.append(run.path)
    return paths[0], paths[1], paths[2]


def test_compare_cli_with_several_baselines_uses_the_noise_aware_gate(sample_runs, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from functools import partial

    from faultdrill.report import compare

    # the gates' verdicts, not the figures (test_report_compare.py draws those)
    monkeypatch.setattr(compare, "compare_runs", partial(compare.compare_runs, plots=False))
    ref1, ref2, cand = sample_runs
    assert main(["compare", str(ref1), str(ref2), str(cand), "--fail-if", "p50@baseline:+20%",
                 "--out", str(tmp_path / "many")]) == 1
    err = capsys.readouterr().err
    assert "median" in err and "of 2 previous run(s)" in err and "outside the noise band" in err
    assert main(["compare", str(ref1), str(ref2), str(cand), "--fail-if", "p50@baseline:+40%",
                 "--out", str(tmp_path / "many")]) == 0
    capsys.readouterr()
    # one reference: as before, B against A
    assert main(["compare", str(ref1), str(cand), "--fail-if", "p50@baseline:+20%",
                 "--out", str(tmp_path / "one")]) == 1
    err = capsys.readouterr().err
    assert "limit +20 %" in err and "noise band" not in err


def test_an_index_with_a_damaged_page_is_rebuilt(tmp_path: Path) -> None:
    series(tmp_path, [100 + i for i in range(10)])
    history(tmp_path, plot=False)
    index = tmp_path / INDEX_NAME
    data = bytearray(index.read_bytes())
    assert len(data) > 8192
    data[4096:8192] = b"\xff" * 4096  # page 2: a table's rows, not the header
    index.write_bytes(bytes(data))
    trend = history(tmp_path, plot=False)
    assert len(trend.runs) == 10 and any("rebuilt" in n for n in trend.notes)


def test_the_drill_hook_keeps_a_failed_index_as_a_problem_in_run_json(tmp_path: Path) -> None:
    from faultdrill.drill import _index_history
    from faultdrill.recorder.rundir import RunDir

    run = make_run(tmp_path, 0, 100)
    (tmp_path / INDEX_NAME).mkdir()
    record = json.loads((run / "run.json").read_text())
    problems: list[str] = []
    _index_history(tmp_path, RunDir(run), record, problems)
    assert len(problems) == 1 and "history index" in problems[0]
    assert json.loads((run / "run.json").read_text())["problems"] == problems
