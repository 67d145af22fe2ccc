"""Installing a package's entry points the way pip does, without pip: a ``*.dist-info`` directory
(METADATA + entry_points.txt) in a directory put on ``sys.path`` — what ``importlib.metadata`` reads."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "extension"


def install_dist(site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> Path:
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines: list[str] = []
    for group, points in entry_points.items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in points.items()), ""]
    (dist / "entry_points.txt").write_text("\n".join(lines))
    return site


def install_example(site: Path) -> list[Path]:
    """examples/extension's metadata as its pyproject declares it; returns the sys.path entries it needs."""
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    install_dist(site, project["name"], project["version"], project["entry-points"])
    return [site, EXAMPLE / "src"]
