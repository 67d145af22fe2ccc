"""House rules a reviewer would otherwise have to check by hand: which package may import which, and
no long function without a reason written at its top (read from the source with ``ast``, nothing run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "faultdrill"
MAX_LINES = 60

# package -> packages it must not import (analysis is pure and reads records, not the engines that make
# them; the recorder writes what it samples and knows nothing of how it is judged)
FORBIDDEN = {
    "analysis": ("faultdrill.load", "faultdrill.recorder", "faultdrill.report", "faultdrill.stack",
                 "faultdrill.faults", "faultdrill.drill", "faultdrill.cli"),
    "recorder": ("faultdrill.analysis", "faultdrill.report", "faultdrill.drill", "faultdrill.cli"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (top level or inside a function), with its line."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def import_violations(root: Path, package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(root.parent)}:{line} imports {module}"
            for path in sorted((root / package).rglob("*.py"))
            for line, module in imported_modules(path)
            if any(module == f or module.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_the_data_flow_allows(package: str) -> None:
    assert import_violations(SRC, package, FORBIDDEN[package]) == []


def test_the_import_rule_sees_a_violation(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "analysis").mkdir(parents=True)
    (tmp_path / "pkg" / "analysis" / "bad.py").write_text(
        "import faultdrill.histograms\n\ndef f():\n    from faultdrill.load.child import main\n")
    assert import_violations(tmp_path / "pkg", "analysis", FORBIDDEN["analysis"]) == [
        "pkg/analysis/bad.py:4 imports faultdrill.load.child"]


def long_functions_without_a_reason(root: Path) -> list[str]:
    """Functions over ``MAX_LINES`` lines whose first lines (after any docstring) carry no comment."""
    out = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.end_lineno is None:
                continue
            length = node.end_lineno - node.lineno + 1
            if length <= MAX_LINES:
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
            head = lines[node.lineno - 1: body[0].lineno + 2]  # the signature to the first statements
            if not any(line.strip().startswith("#") for line in head):
                out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_function_over_60_lines_without_a_reason_at_its_top() -> None:
    assert long_functions_without_a_reason(SRC) == []


def test_the_length_rule_sees_a_long_function(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(70))
    (pkg / "long.py").write_text(f"def quiet():\n{body}\n\ndef explained():\n    # long: a table\n{body}")
    assert long_functions_without_a_reason(pkg) == ["pkg/long.py:1 quiet (71 lines)"]
