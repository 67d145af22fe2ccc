"""Where the bundled scenarios and Dockerfiles live (a source checkout or an editable install)."""

from __future__ import annotations

from pathlib import Path

from faultdrill.errors import UsageError


def project_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "scenarios").is_dir() and (parent / "docker").is_dir():
            return parent
    raise UsageError("the bundled scenarios are not found next to this installation",
                     hint="run from a checkout of faultdrill (pip install -e .), or pass a scenario path")


def bundled_scenario(name: str) -> Path:
    path = project_root() / "scenarios" / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"no bundled scenario named {name!r} ({path})")
    return path
