"""Comparing two runs: gate syntax, gate thresholds, known deltas, and the files compare writes."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest

from faultdrill.errors import ExitCode, UsageError
from faultdrill.report.compare import compare_runs, compare_summaries, evaluate_gate, parse_gate
from faultdrill.report.sample import SampleShape, write_sample_run
from faultdrill.report.summary import render_all

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- gates
@pytest.mark.parametrize("text, metric, window, direction, amount, relative", [
    ("p95:+20%", "p95_ms", "run", 1, 20.0, True),
    ("p95@recovery:+20%", "p95_ms", "recovery", 1, 20.0, True),
    ("p99@slow backend:+50ms", "p99_ms", "slow backend", 1, 50.0, False),
    ("error_rate:+0.01", "error_rate", "run", 1, 0.01, False),
    ("rps@fault:-10%", "rps", "fault", -1, 10.0, True),
    ("p50_ms:+5", "p50_ms", "run", 1, 5.0, False),
])
def test_gates_parse(text: str, metric: str, window: str, direction: int, amount: float, relative: bool) -> None:
    gate = parse_gate(text)
    assert (gate.metric, gate.window, gate.direction, gate.amount, gate.relative) == (
        metric, window, direction, amount, relative)


@pytest.mark.parametrize("text, says", [
    ("p95>20%", "METRIC[@WINDOW]"),
    ("p95:20%", "METRIC[@WINDOW]"),  # the sign says which way is worse: required
    ("p42:+20%", "unknown metric 'p42'"),
    ("error_rate:+5ms", "not in milliseconds"),
])
def test_bad_gates_name_the_value_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_gate(text)
    assert says in str(err.value) and text in str(err.value)
    assert err.value.exit_code == ExitCode.INVALID


def test_a_gate_trips_only_past_its_threshold() -> None:
    gate = parse_gate("p95:+20%")
    assert not evaluate_gate(gate, 100.0, 120.0).tripped  # exactly at the limit: held
    assert evaluate_gate(gate, 100.0, 120.5).tripped
    assert not evaluate_gate(gate, 100.0, 50.0).tripped  # faster is never a regression
    fall = parse_gate("rps:-10%")
    assert not evaluate_gate(fall, 50.0, 45.0).tripped and evaluate_gate(fall, 50.0, 44.9).tripped
    assert not evaluate_gate(fall, 50.0, 80.0).tripped
    absolute = parse_gate("error_rate:+0.01")
    assert not evaluate_gate(absolute, 0.0, 0.01).tripped and evaluate_gate(absolute, 0.0, 0.0101).tripped


def test_a_rise_from_zero_trips_a_relative_gate_and_missing_data_never_passes() -> None:
    gate = parse_gate("error_rate:+50%")
    assert evaluate_gate(gate, 0.0, 0.001).tripped
    assert not evaluate_gate(gate, 0.0, 0.0).tripped
    missing = evaluate_gate(parse_gate("p95@recovery:+20%"), 100.0, None)
    assert missing.tripped and "no value in run B" in missing.reason


# --------------------------------------------------------------------------- deltas on synthetic runs
def window(p50: float | None, p95: float | None, error_rate: float | None = 0.0, rps: float | None = 10.0) -> dict:
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p95, "error_rate": error_rate, "rps": rps}


def test_compare_summaries_computes_known_deltas() -> None:
    a = {"run_id": "a", "windows": {"baseline": window(10, 20), "run": window(10, 100, 0.0, 50.0)},
         "checks": [{"name": "fast", "metric": "p95_ms", "window": "run", "value": 100.0, "passed": True}]}
    b = {"run_id": "b", "windows": {"run": window(12, 130, 0.02, 40.0), "recovery": window(9, 9)},
         "checks": [{"name": "fast", "metric": "p95_ms", "window": "run", "value": 130.0, "passed": False}]}
    result = compare_summaries(a, b, [parse_gate("p95:+25%"), parse_gate("p95:+30%"), parse_gate("rps:-20%")])
    deltas = {(d.window, d.metric): d for d in result.windows}
    assert {w for w, _ in deltas} == {"run"}
    assert result.windows_only_in_a == ["baseline"] and result.windows_only_in_b == ["recovery"]
    assert deltas["run", "p95_ms"].delta == 30 and deltas["run", "p95_ms"].delta_pct == pytest.approx(30.0)
    assert deltas["run", "rps"].delta_pct == pytest.approx(-20.0)
    assert deltas["run", "error_rate"].delta == pytest.approx(0.02) and deltas["run", "error_rate"].delta_pct is None
    (check,) = result.checks
    assert (check.a, check.b, check.a_passed, check.b_passed, check.delta) == (100.0, 130.0, True, False, 30.0)
    assert [g.tripped for g in result.gates] == [True, False, False]
    assert result.failed and [g.gate.text for g in result.tripped] == ["p95:+25%"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A: 100 ms, no errors. B: 130 ms outside its (later) fault and 5 % errors in it."""
    root = tmp_path_factory.mktemp("compare")
    quiet = {"failing_profile": None}  # failures spread over every client, not one profile
    a, sa = write_sample_run(root / "run-a", samples=False,
                             shape=SampleShape(base_ms=100, fault_ms=300, fault_error_rate=0.0, **quiet))
    b, sb = write_sample_run(root / "run-b", samples=False,
                             shape=SampleShape(base_ms=130, fault_ms=300, fault_start=25, fault_end=45,
                                               fault_error_rate=0.05, **quiet))
    render_all(a, sa, "completed", plots=False)
    render_all(b, sb, "completed", plots=False)
    return a.path, b.path


def test_compare_runs_finds_the_slower_baseline_and_trips_at_the_right_threshold(two_runs, tmp_path: Path) -> None:
    a, b = two_runs
    result = compare_runs(a, b, ["p50@baseline:+25%", "p50@baseline:+35%", "error_rate:+0.01",
                                 "error_rate:+0.02"], tmp_path / "out")
    baseline = {d.metric: d for d in result.windows if d.window == "baseline"}
    # 100 ms × U(0.8, 1.2) vs 130 ms × U(0.8, 1.2): the median moves by ~30 %, within histogram precision
    assert 27 < baseline["p50_ms"].delta_pct < 33
    assert baseline["error_rate"].delta == 0 and baseline["rps"].delta == 0
    run_errors = next(d for d in result.windows if d.window == "run" and d.metric == "error_rate")
    assert run_errors.b == pytest.approx(0.05 * 20 / 60, abs=1e-3)  # 5 % for 20 of 60 seconds
    assert [g.tripped for g in result.gates] == [True, False, True, False]
    assert result.failed


def test_compare_writes_png_markdown_and_self_contained_html(two_runs, tmp_path: Path) -> None:
    a, b = two_runs
    result = compare_runs(a, b, ["p95@baseline:+20%"], tmp_path / "out")
    assert set(result.files) == {"png", "markdown", "html"}
    assert (tmp_path / "out" / "compare.png").read_bytes().startswith(PNG_MAGIC)
    md = (tmp_path / "out" / "compare.md").read_text()
    assert md.startswith("## ❌ faultdrill compare — REGRESSION — 1 of 1 gates tripped")
    assert "❌ `p95@baseline:+20%`" in md
    assert "| window | metric | A | B | Δ | Δ % |" in md and "| errors stay low |" in md
    html = (tmp_path / "out" / "compare.html").read_text()
    assert "faultdrill compare" in html and "Regression gates" in html and "run-a" in html and "run-b" in html
    src = html.split('<img src="', 1)[1].split('"', 1)[0]
    assert src.startswith("data:image/png;base64,")
    assert "✘ tripped" in html and not any(ch in html for ch in "✅❌")  # glyphs that need no emoji font
    assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_compare_without_gates_does_not_fail(two_runs, tmp_path: Path) -> None:
    result = compare_runs(*two_runs, out_dir=tmp_path / "out", plots=False)
    assert not result.failed and result.gates == [] and "png" not in result.files
    assert len(result.windows) == 6 * 5  # baseline, ramp, slow db, fault, recovery, run × 5 metrics


def test_compare_default_output_goes_beside_run_b(two_runs) -> None:
    a, b = two_runs
    result = compare_runs(a, b, plots=False)
    assert result.files["markdown"].parent == b / "compare-run-a"


def test_a_bad_gate_fails_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="bad --fail-if 'p95'"):
        compare_runs(tmp_path / "nope-a", tmp_path / "nope-b", ["p95"])


def test_a_directory_without_summary_json_is_a_usage_error(two_runs, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=re.escape("has no summary.json")) as err:
        compare_runs(two_runs[0], tmp_path / "empty")
    assert "faultdrill report" in str(err.value)
    with pytest.raises(UsageError, match="is not a directory"):
        compare_runs(two_runs[0], tmp_path / "missing")


def test_runs_judged_by_different_summary_schemas_are_not_compared(two_runs, tmp_path: Path) -> None:
    a, b = two_runs
    old = tmp_path / "old"
    shutil.copytree(a, old)
    summary = json.loads((old / "summary.json").read_text())
    summary["schema"] = "faultdrill.summary/1"
    (old / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(UsageError, match=re.escape("summary schema faultdrill.summary/1")) as err:
        compare_runs(old, b, plots=False)
    assert f"faultdrill report {old}" in str(err.value.hint)
