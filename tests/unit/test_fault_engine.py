"""The fault timeline with a fake action and a fake clock: starts, stops, flaps, ramps, triggers, heals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faultdrill.clock import RunClock
from faultdrill.faults.engine import FaultEngine, ScheduledFault, ramp_values
from faultdrill.faults.journal import Journal, pending
from faultdrill.histograms import LoadSecond, RequestStats
from faultdrill.recorder.events import EventLog, read_events
from faultdrill.scenario.fault_model import Fault


@dataclass
class FakeAction:
    """Behind the same interface as the real actions; records what was done to the 'target'."""

    name: str
    calls: list[str] = field(default_factory=list)
    fail_apply: bool = False

    def prepare(self) -> None:
        pass  # nothing to read from a fake target

    def describe(self) -> dict[str, Any]:
        return {"type": "fake", "key": ["fake", self.name]}

    def apply(self) -> None:
        self.calls.append("apply")
        if self.fail_apply:
            raise RuntimeError("target refused")

    def revert(self) -> None:
        self.calls.append("revert")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(tmp_path: Path, *faults: dict) -> tuple[FaultEngine, FakeClock, list[FakeAction]]:
    clock = FakeClock()
    actions = [FakeAction(f["name"]) for f in faults]
    scheduled = [ScheduledFault(Fault.model_validate(f), a) for f, a in zip(faults, actions)]
    events = EventLog(tmp_path / "events.jsonl", RunClock())
    engine = FaultEngine(scheduled, Journal(tmp_path / "journal.jsonl"), events, clock)
    return engine, clock, actions


def run_until(engine: FaultEngine, clock: FakeClock, end: float, step: float = 0.5) -> None:
    while clock.t < end:
        engine.tick()
        clock.t += step


TOXIC = {"toxic": {"proxy": "db", "type": "latency", "latency": "100ms"}}


def test_start_and_stop_on_time(tmp_path: Path) -> None:
    engine, clock, (action,) = make(tmp_path, {"name": "slow", "at": 2, "for": 3, **TOXIC})
    run_until(engine, clock, 10)
    item = engine.scheduled[0]
    assert item.started_at == 2.0 and item.stopped_at == 5.0
    assert action.calls == ["apply", "revert"]
    assert pending(tmp_path / "journal.jsonl") == []


def test_flapping_on_and_off(tmp_path: Path) -> None:
    engine, clock, (action,) = make(tmp_path, {"name": "flap", "at": 0, "for": 30, "repeat": {"on": 5, "off": 5},
                                               **TOXIC})
    run_until(engine, clock, 40)
    assert action.calls == ["apply", "revert"] * 3  # on at 0, 10, 20; final stop at 30 while off
    kinds = [e["kind"] for e in read_events(tmp_path / "events.jsonl")]
    assert kinds.count("fault.flap") == 5 and kinds[0] == "fault.start" and kinds[-1] == "fault.stop"


def test_trigger_waits_for_the_load(tmp_path: Path) -> None:
    engine, clock, (action,) = make(tmp_path, {"name": "at peak", "at": 1, "for": 2,
                                               "when": {"users_at_least": 300}, **TOXIC})
    run_until(engine, clock, 5)
    assert action.calls == []
    engine.observe_load(LoadSecond(5, 300, {"GET /": RequestStats(count=10)}))
    run_until(engine, clock, 10)
    assert engine.scheduled[0].started_at == 5.0 and engine.scheduled[0].stopped_at == 7.0


def test_manual_faults_wait_for_the_facilitator(tmp_path: Path) -> None:
    engine, clock, (action,) = make(tmp_path, {"name": "surprise", "manual": True, **TOXIC})
    run_until(engine, clock, 5)
    assert action.calls == []
    engine.inject("surprise")
    clock.t = 8
    engine.heal("surprise")
    assert action.calls == ["apply", "revert"] and engine.scheduled[0].stopped_at == 8


def test_heal_all_heals_what_is_active(tmp_path: Path) -> None:
    engine, clock, actions = make(tmp_path, {"name": "a", "at": 0, **TOXIC}, {"name": "b", "at": 1, "for": 1, **TOXIC},
                                  {"name": "c", "at": 50, **TOXIC})
    run_until(engine, clock, 5)
    assert engine.active_names() == ["a"]
    assert engine.heal_all() == []
    assert [a.calls for a in actions] == [["apply", "revert"], ["apply", "revert"], []]


def test_the_journal_is_written_before_the_change(tmp_path: Path) -> None:
    engine, _clock, (action,) = make(tmp_path, {"name": "x", "at": 0, **TOXIC})
    action.fail_apply = True
    with pytest.raises(RuntimeError):
        engine.tick()
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert lines[0]["op"] == "apply"  # a crash mid-apply still leaves a trace to heal from
    assert pending(tmp_path / "journal.jsonl") == [action.describe()]


def test_ramp_values_are_linear() -> None:
    fault = Fault.model_validate({"name": "r", "at": 0, "for": 60, "ramp": {"latency": "5s", "toxicity": 1.0},
                                  "toxic": {"proxy": "db", "type": "latency", "latency": "100ms", "toxicity": 0.5}})
    assert ramp_values(fault, 0) == ({"latency": 100}, 0.5)
    assert ramp_values(fault, 0.5) == ({"latency": 2550}, 0.75)
    assert ramp_values(fault, 2) == ({"latency": 5000}, 1.0)


@pytest.mark.parametrize("spec, words", [
    ({"name": "x", "toxic": {"proxy": "db", "type": "latency", "latency": 1}, "container": {"service": "db", "action": "pause"}}, "exactly one"),
    ({"name": "x", "ramp": {"latency": "1s"}, **TOXIC}, "needs a toxic and a duration"),
    ({"name": "x", "stress": {"service": "db"}}, "cpu"),
    ({"name": "x", "proxy": {"proxy": "db", "action": "upstream"}}, "upstream"),
    ({"name": "x", "toxic": {"proxy": "db", "type": "slicer", "average_size": 10, "size_variation": 20}}, "smaller"),
    ({"name": "x", "toxic": {"proxy": "db", "type": "latency", "rate": 5, "latency": 1}}, "does not apply"),
])
def test_impossible_faults_are_refused(spec: dict, words: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=words):
        Fault.model_validate(spec)
