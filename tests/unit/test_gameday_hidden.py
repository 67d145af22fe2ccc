"""A hidden fault's name appears nowhere a responder looks until it is revealed.

Everything a responder sees during a game day: the console lines above the live view, the live
view itself, the control endpoint's ``/state`` and its error answers. Fake actions, fake clock.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from faultdrill.clock import RunClock
from faultdrill.drill import LiveDrill
from faultdrill.faults.engine import FaultEngine, ScheduledFault
from faultdrill.faults.journal import Journal
from faultdrill.gameday.control import Command
from faultdrill.gameday.controller import GameDayController
from faultdrill.gameday.view import render
from faultdrill.recorder.events import EventLog, read_events
from faultdrill.recorder.rundir import RunDir
from faultdrill.scenario import parse_scenario
from faultdrill.terminal import ConsoleObserver
from tests.helpers import SCENARIOS
from tests.unit.test_fault_engine import FakeAction, FakeClock

SECRETS = ("mystery", "quiet drain")  # the hidden faults: one by hand, one on the schedule


class GameDay:
    def __init__(self, tmp_path: Path) -> None:
        data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
        data["faults"].append({"name": "quiet drain", "at": 2, "for": 30, "hidden": True,
                               "toxic": {"proxy": "backend", "type": "bandwidth", "rate": 10}})
        scenario = parse_scenario(yaml.safe_dump(data), "gameday", base_dir=SCENARIOS)
        self.clock = FakeClock()
        events = EventLog(tmp_path / "events.jsonl", RunClock())
        self.engine = FaultEngine([ScheduledFault(f, FakeAction(f.name)) for f in scenario.faults],
                                  Journal(tmp_path / "journal.jsonl"), events, self.clock)
        self.controller = GameDayController(with_endpoint=False)
        self.controller.attach(LiveDrill(scenario, RunDir.create(tmp_path, "run-1"), RunClock(), self.engine, events,
                                         scenario.duration))
        self.observer = ConsoleObserver(every=1)

    def second(self, t: int) -> None:
        """One second of the drill, as `drill._drive` runs it: tick, commands, the progress line."""
        self.clock.t = float(t)
        self.engine.tick()
        self.controller.tick()
        self.observer.second(t, 10, 100, 0, 12.0, self.engine.shown_active_names())

    def command(self, verb: str, fault: str) -> dict:
        future = self.controller.commands.submit(Command(verb, fault=fault))
        self.controller.tick()
        return future.result(timeout=1)

    def seen(self) -> str:
        """The live view as drawn, and /state as the control endpoint serves it."""
        screen = Console(record=True, width=160, file=io.StringIO())
        screen.print(render(self.controller.snapshot()))
        return screen.export_text() + json.dumps(self.controller.snapshot())


def test_hidden_faults_stay_nameless_until_revealed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = GameDay(tmp_path)
    day.second(0)
    day.command("inject", "mystery")  # the facilitator knows the name
    for t in range(1, 6):  # "quiet drain" starts on its own at 2 s
        day.second(t)
    with pytest.raises(ValueError) as refused:  # a typo shows the list of faults: hidden ones nameless
        day.command("inject", "slow backnd")
    before = capsys.readouterr().err + day.seen() + str(refused.value)

    assert [item.fault.name for item in day.engine.scheduled if item.active] == ["mystery", "quiet drain"]
    for secret in SECRETS:
        assert secret not in before
    assert "fault on: hidden fault #2" in before and "fault on: hidden fault #3" in before
    assert "faults: hidden fault #2, hidden fault #3" in before  # the periodic progress line

    day.command("reveal", "2")
    day.second(6)
    after = capsys.readouterr().err + day.seen()
    assert "revealed: hidden fault #2 is mystery" in after and "fault off" not in after
    assert "mystery (hidden fault #2)" in after and "quiet drain" not in after  # the other one stays hidden
    kinds = {e["kind"]: e for e in read_events(tmp_path / "events.jsonl")}
    assert kinds["fault.revealed"]["fault"] == "mystery"  # the run's own record keeps real names
