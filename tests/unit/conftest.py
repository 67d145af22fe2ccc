"""Fixtures shared by the unit tests. Drawing every panel of a report costs seconds, so the one fully
drawn sample run is made once per session and only read by the tests that look at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from faultdrill.report.sample import write_sample_run
from faultdrill.report.summary import Report, render_all


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report]:
    """A completed run with every recorder file, one fault (20–40 s) and one failing check, fully drawn.
    Read it, never change it: other tests see the same files."""
    run_dir, scenario = write_sample_run(tmp_path_factory.mktemp("runs") / "full")
    return run_dir.path, render_all(run_dir, scenario, "completed")


@pytest.fixture
def no_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports without their PNGs (panels and story figure), for tests of verdicts and text."""
    from faultdrill.report import plots, summary

    monkeypatch.setattr(summary, "build_panels", lambda data: plots.PanelSet())
    monkeypatch.setattr(summary, "_draw_story", lambda *args, **kwargs: None)


@pytest.fixture
def draw_only(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``draw_only("latency", "cpu")``: reports draw just those panels (every other one is built, then left
    out; the skipped ones keep their reasons) and no story figure."""
    from faultdrill.report import plots, summary

    def only(*keys: str) -> None:
        def build(data: object) -> plots.PanelSet:
            built = plots.build_panels(data)  # type: ignore[arg-type]
            return plots.PanelSet([p for p in built.panels if p.key in keys], built.skipped)

        monkeypatch.setattr(summary, "build_panels", build)
        monkeypatch.setattr(summary, "_draw_story", lambda *args, **kwargs: None)

    return only
