"""Property: no input file makes ``faultdrill validate`` crash. It is exit 0 or exit 2 with a message."""

from __future__ import annotations

import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultdrill.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMOKE = yaml.safe_load((ROOT / "scenarios" / "smoke.yaml").read_text())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["10s", "-5s", "1m30s", "${proxy.x}", "0", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += paths(value, prefix + (i,))
    return out


ALL_PATHS = [p for p in paths(SMOKE) if p]


def mutate(data: object, path: tuple, value: object) -> object:
    import copy

    data = copy.deepcopy(data)
    target = data
    for part in path[:-1]:
        target = target[part]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    return data


def run_validate(tmp_path: Path, text: str, capsys) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    scenario_dir = tmp_path / "scenarios"
    scenario_dir.mkdir(exist_ok=True)
    (tmp_path / "docker" / "smoke").mkdir(parents=True, exist_ok=True)
    (tmp_path / "docker" / "smoke" / "Dockerfile").write_text("FROM scratch\n")
    path = scenario_dir / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ALL_PATHS), value=values)
def test_mutated_scenarios_never_crash(tmp_path: Path, capsys, path: tuple, value: object) -> None:  # type: ignore[no-untyped-def]
    text = yaml.safe_dump(mutate(SMOKE, path, value))
    code, err = run_validate(tmp_path, text, capsys)
    assert code in (0, 2)
    assert "Traceback" not in err
    if code == 2:
        assert "fuzz.yaml" in err and err.strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=string.printable + "ü€\t", max_size=300))
def test_arbitrary_text_never_crashes(tmp_path: Path, capsys, text: str) -> None:  # type: ignore[no-untyped-def]
    code, err = run_validate(tmp_path, text, capsys)
    assert code == 2
    assert "Traceback" not in err and "fuzz.yaml" in err
