"""Running a game day: the drill with a controller, a live view and keys, then the retrospective."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.live import Live

from faultdrill.console.live import ConsoleSettings
from faultdrill.drill import DrillOptions, DrillOutcome, Observer, run_drill
from faultdrill.gameday.controller import GameDayController
from faultdrill.gameday.keys import KeyMap, KeyReader
from faultdrill.gameday.retrospective import render_retrospective
from faultdrill.gameday.view import render
from faultdrill.recorder.events import read_events
from faultdrill.scenario.loader import LoadedScenario


class _LiveRenderable:
    def __init__(self, controller: GameDayController, keymap: KeyMap) -> None:
        self.controller, self.keymap = controller, keymap

    def __rich__(self):  # type: ignore[no-untyped-def]
        return render(self.controller.snapshot(), self.keymap.selected, self.keymap.message)


@contextlib.contextmanager
def _live_view(controller: GameDayController, console: Console, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    keymap = KeyMap(lambda command: controller.commands.submit(command))
    with Live(_LiveRenderable(controller, keymap), console=console, refresh_per_second=1, transient=False,
              redirect_stdout=False, redirect_stderr=False), KeyReader(keymap.press):
        yield


def run_gameday(loaded: LoadedScenario, results: Path | None, observer: Observer, console: Console,
                view: bool | None = None, web: ConsoleSettings | None = None) -> tuple[DrillOutcome, Path | None]:
    """Run the drill live. ``view`` defaults to "when the terminal is interactive"; ``web``: serve the
    web console there too (its two links are printed once, on ``console``)."""
    show = console.is_terminal and sys.stdin.isatty() if view is None else view
    controller = GameDayController(console=web, announce=lambda line: console.print(line, markup=False,
                                                                                    soft_wrap=True))
    with _live_view(controller, console, show):
        outcome = run_drill(loaded, DrillOptions(results_dir=results, controller=controller), observer)
    retro = write_retrospective(outcome.run_dir, loaded.scenario.name)
    return outcome, retro


def write_retrospective(run_dir: Path, scenario_name: str) -> Path | None:
    import json

    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {"run_id": run_dir.name}
    path = run_dir / "retrospective.md"
    path.write_text(render_retrospective(summary, read_events(run_dir / "events.jsonl"), scenario_name),
                    encoding="utf-8")
    return path
