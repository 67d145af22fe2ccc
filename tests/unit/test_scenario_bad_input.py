"""Hostile or broken scenario files: refused fast, with exit 2 and a message naming the line and the fix.

The hostile files run through ``python -m faultdrill validate`` in a subprocess with a timeout, so a
regression that hangs fails here instead of hanging the suite. The 5 s bound is only a hang guard;
real timings belong in the issue note.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultdrill.cli import main
from faultdrill.errors import ScenarioError
from faultdrill.scenario import load_scenario, parse_scenario
from faultdrill.scenario.yaml_source import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES
from tests.unit.test_scenario_validation import VALID, write

HANG_GUARD_S = 20.0  # a hang or a blow-up takes minutes; a busy 2-core machine needs ~8 s to start Python and refuse


def validate_in_subprocess(path: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "faultdrill", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def assert_refused_fast(path: Path, *words: str) -> str:
    code, output, seconds = validate_in_subprocess(path)
    assert code == 2, output
    assert "Traceback" not in output and "internal error" not in output, output
    for word in words:
        assert word in output, output
    assert seconds < HANG_GUARD_S, f"took {seconds:.1f}s"
    return output


def alias_bomb(levels: int = 9, fanout: int = 9) -> str:
    rows = ["a: &a [" + ", ".join(['"lol"'] * fanout) + "]"]
    for i in range(1, levels):
        name, prev = chr(ord("a") + i), chr(ord("a") + i - 1)
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * fanout) + "]")
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------- 21: alias bombs
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, alias_bomb())
    output = assert_refused_fast(path, f"more than {MAX_ALIAS_NODES:,} values")
    assert "drill.yaml:6: f[0]:" in output  # where the expansion crossed the bound


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, VALID + "x: &loop [1, *loop]\n"))
    (problem,) = info.value.problems
    assert "recursive" in problem.message and problem.field == "x[1]" and problem.line == VALID.count("\n") + 1


def test_aliases_cannot_smuggle_in_depth(tmp_path: Path) -> None:
    deep = "[" * 40 + "1" + "]" * 40
    text = f"a: &a {deep}\nb: &b {deep.replace('1', '*a')}\n"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "drill.yaml")
    assert f"more than {MAX_DEPTH} levels deep once alias *a is expanded" in info.value.problems[0].message


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = VALID.replace("      build: app\n", "      build: app\n      env: &env {MODE: fast}\n").replace(
        "      image: postgres:15\n", "      image: postgres:15\n      env: {<<: *env, EXTRA: '1'}\n")
    scenario = load_scenario(write(tmp_path, text)).scenario
    assert scenario.stack.services["db"].env == {"MODE": "fast", "EXTRA": "1"}


# --------------------------------------------------------------------------- 22: deep nesting
@pytest.mark.parametrize("style", ["flow", "block"])
def test_a_file_nested_5000_levels_deep_is_bad_input(tmp_path: Path, style: str) -> None:
    flow = "name: " + "[" * 5000 + "]" * 5000 + "\n"
    block = "name:\n  " + "- " * 5000 + "1\n"  # compact block sequences, one inside the next
    text = flow if style == "flow" else block
    output = assert_refused_fast(write(tmp_path, text), f"more than {MAX_DEPTH} levels deep", "drill.yaml:")
    assert "RecursionError" not in output


# --------------------------------------------------------------------------- 24: huge files
def test_a_50_mb_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("description: '" + "x" * (50 * 1024 * 1024) + "'\n")
    assert_refused_fast(path, "the file is 50.0 MiB", f"at most {MAX_FILE_BYTES / 1024 / 1024:.1f} MiB",
                        "A scenario describes a drill")


def test_text_over_the_bound_is_refused_when_parsed_directly() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(VALID + "#" * MAX_FILE_BYTES, "drill.yaml")
    assert "may be at most" in info.value.problems[0].message


# --------------------------------------------------------------------------- 23: depends_on cycles
def test_a_depends_on_cycle_is_named_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = VALID.replace("      build: app\n", "      build: app\n      depends_on: [db]\n").replace(
        "      image: postgres:15\n", "      image: postgres:15\n      depends_on: [app]\n")
    line = text.splitlines().index("      depends_on: [db]") + 1
    assert main(["validate", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert f"drill.yaml:{line}: stack.services.app.depends_on: services wait for each other in a cycle: " \
           "app → db → app" in err
    assert "remove one link of the cycle" in err


def test_a_service_that_depends_on_itself_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("      image: postgres:15\n", "      image: postgres:15\n      depends_on: [db]\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    (problem,) = info.value.problems
    assert problem.field == "stack.services.db.depends_on" and "'db' depends on itself (db → db)" in problem.message


def test_a_cycle_through_references_says_which_reference(tmp_path: Path) -> None:
    text = VALID.replace("      image: postgres:15\n",
                         "      image: postgres:15\n      env: {APP: '${service.app.addr}'}\n").replace(
        "      build: app\n", "      build: app\n      env: {DB: '${proxy.db}'}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    (problem,) = info.value.problems
    assert "app → db → app" in problem.message
    assert "app needs db through ${proxy.db}" in problem.message
    assert "db needs app through ${service.app.addr}" in problem.message
    assert problem.field == "stack.services.app"


def test_a_chain_without_a_cycle_is_fine(tmp_path: Path) -> None:
    text = VALID.replace("      build: app\n", "      build: app\n      depends_on: [db]\n")
    assert load_scenario(write(tmp_path, text)).scenario.stack.services["app"].depends_on == ["db"]
