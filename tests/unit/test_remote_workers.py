"""Load workers beyond one machine, the pure parts: joining (token, versions, tickets), clocks,
journeys shipped, the scenario's workers form, delivered vs planned, and what a lost worker leaves
in the record."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from faultdrill.analysis.checks import judge
from faultdrill.analysis.live import AbortMonitor
from faultdrill.analysis.windows import Window
from faultdrill.drill import record_workers, worker_news
from faultdrill.histograms import LoadSecond, OpenStats, RequestStats
from faultdrill.load.config import ChildConfig
from faultdrill.load.join import (
    ClockEstimate,
    ClockSample,
    Roster,
    mac,
    pack_journeys,
    unpack_journeys,
    version_problem,
    versions,
)
from faultdrill.load.shape import Segment, planned_at
from faultdrill.report.markdown import render_markdown
from faultdrill.scenario.check_model import Abort, Check
from faultdrill.scenario.load_model import Load

BASE = {"journeys": "builtin:smoke", "host": "http://127.0.0.1:8000", "shape": [{"until": "10s", "users": 4}]}
MASTER = {"faultdrill": "0.1.0", "locust": "2.47.0", "protocol": 1}


def join(roster: Roster, join_id: str, token: str = "secret", worker: dict[str, Any] | None = None,
         started: bool = False) -> Any:
    return roster.join(join_id, "h1", worker or MASTER, mac(token, join_id), MASTER, started)


# -- joining -------------------------------------------------------------------------------
def test_a_wrong_token_is_refused_and_says_what_to_do() -> None:
    got = join(Roster(0, 1, "secret"), "w1", token="guess")
    assert isinstance(got, str) and "wrong token" in got and "--token" in got


def test_only_a_worker_that_showed_the_token_can_stop_the_drill() -> None:
    roster = Roster(0, 1, "secret")
    join(roster, "stranger", token="guess")
    assert not roster.refused_by_worker("never-joined", "nope")  # a forged refusal
    assert roster.refusals == [] and len(roster.turned_away) == 2  # said at the end of the wait, not fatal
    join(roster, "w1", worker={**MASTER, "faultdrill": "0.0.9"})
    assert "version mismatch" in roster.refusals[0]  # this one will never join: stop at once
    roster = Roster(0, 1, "secret")
    join(roster, "w1")
    assert roster.refused_by_worker("w1", "h1: not in load.allow_hosts") and roster.refusals
    for n in range(50):
        join(roster, f"x{n}", token="guess")
    assert len(roster.turned_away) == 20  # a flood does not grow the master


def test_the_mac_is_bound_to_the_connection() -> None:
    roster = Roster(0, 1, "secret")
    stolen = mac("secret", "someone-else")
    assert isinstance(roster.join("w1", "h", MASTER, stolen, MASTER, False), str)


def test_a_version_mismatch_is_refused_naming_both_sides() -> None:
    got = join(Roster(0, 1, "secret"), "w1", worker={**MASTER, "locust": "2.31.0"})
    assert isinstance(got, str)
    assert "version mismatch" in got and "2.31.0" in got and "2.47.0" in got and "same" in got
    assert version_problem(MASTER, MASTER) is None
    assert set(versions()) >= {"faultdrill", "locust", "protocol"}


def test_remote_workers_get_the_slots_after_the_local_ones_once_each() -> None:
    roster = Roster(2, 2, "secret")
    first = join(roster, "a")
    assert first.index == 2 and first.remote and first.ticket
    assert join(roster, "a") is first  # a repeated join is the same worker
    assert join(roster, "b").index == 3
    assert "already has its 2 remote" in join(roster, "c")
    assert "already running" in join(Roster(0, 1, "secret"), "late", started=True)


def test_a_ticket_admits_one_connection_once() -> None:
    roster = Roster(1, 1, "secret")
    entry = join(roster, "a")
    assert roster.admit("locust-conn-1", "forged") is None
    assert roster.admit("locust-conn-1", entry.ticket) is entry
    assert roster.admit("locust-conn-2", entry.ticket) is None  # used
    assert roster.admitted == {"locust-conn-1": entry.index}
    local = roster.entries[0]
    assert roster.admit("local-conn", local.ticket) is local


def test_a_silent_worker_is_lost_once_and_a_finished_one_never() -> None:
    roster = Roster(2, 0, "")
    for index in (0, 1):
        roster.seen(index, 100.0)
    roster.entries[1].done = True
    assert [e.index for e in roster.overdue(102.0, 3.0)] == []
    assert [e.index for e in roster.overdue(104.0, 3.0)] == [0]
    assert roster.mark_lost(0, 5.5, "no record") is not None
    assert roster.mark_lost(0, 6.0, "again") is None and roster.mark_lost(1, 6.0, "done") is None
    assert roster.overdue(200.0, 3.0) == []
    described = roster.describe()[0]
    assert described["lost_at_s"] == 5.5 and described["lost_why"] == "no record"


# -- clocks --------------------------------------------------------------------------------
def test_the_lowest_round_trip_sets_the_offset() -> None:
    # the master's clock is 5 s ahead; one trip was slow one way (asymmetric): it must not win
    samples = [ClockSample(10.0, 15.3, 10.4), ClockSample(20.0, 25.001, 20.002), ClockSample(30.0, 35.2, 30.3)]
    best = ClockEstimate.best(samples)
    assert best.offset == pytest.approx(5.0, abs=1e-9) and best.uncertainty == pytest.approx(0.001)
    assert best.samples == 3
    again = ClockEstimate.from_json(best.to_json())  # rounded to the microsecond in run.json
    assert again.offset == pytest.approx(best.offset, abs=1e-6) and again.samples == 3
    with pytest.raises(ValueError):
        ClockEstimate.best([])


# -- journeys ------------------------------------------------------------------------------
def test_journeys_travel_as_a_pack_name_or_a_file_kept_in_the_workers_directory(tmp_path: Path) -> None:
    assert unpack_journeys(pack_journeys("builtin:smoke"), tmp_path) == "builtin:smoke"
    assert unpack_journeys(pack_journeys("pack:ticketing"), tmp_path) == "pack:ticketing"  # not read as a path
    source = tmp_path / "mine.py"
    source.write_text("from locust import HttpUser\n")
    packed = pack_journeys(str(source))
    into = tmp_path / "worker"
    into.mkdir()
    written = Path(unpack_journeys({**packed, "filename": "../../etc/evil"}, into))
    assert written.parent == into and written.read_text() == "from locust import HttpUser\n"


# -- the scenario's workers ----------------------------------------------------------------
def test_workers_int_form_stays_valid_and_the_full_form_reaches_the_child() -> None:
    assert Load.model_validate({**BASE, "workers": 3}).pool.local == 3
    full = Load.model_validate({**BASE, "workers": {"local": 1, "remote": 2, "wait": "30s", "listen": "0.0.0.0:6000"}})
    config = ChildConfig.from_load(full, duration=10, host=full.host, journeys=full.journeys)
    assert (config.workers, config.remote_workers, config.remote_wait) == (1, 2, 30.0)
    assert (config.listen_host, config.listen_port, config.total_workers) == ("0.0.0.0", 6000, 3)
    assert ChildConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    worker = config.for_worker(2, 6000, ticket="t")
    assert worker.token == "" and worker.ticket == "t" and worker.role == "worker"


@pytest.mark.parametrize("workers, words", [
    (0, "between 1 and 64"),
    ({"local": 0, "remote": 0}, "at least 1"),
    ({"remote": 1, "listen": "nowhere"}, "HOST:PORT"),
    ({"remote": 1, "wait": 0}, "more than 0s"),
    ({"remote": 1, "hosts": 2}, "hosts"),
])
def test_bad_workers_say_what_to_write(workers: object, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        Load.model_validate({**BASE, "workers": workers})
    assert words in str(err.value)


# -- delivered vs planned ------------------------------------------------------------------
def open_second(t: int, sent: int, planned: float) -> LoadSecond:
    stats = RequestStats()
    for _ in range(sent):
        stats.record(5.0)
    return LoadSecond(t, 0, {"GET /": stats}, open=OpenStats(intended=sent, sent=sent), planned=planned)


def test_planned_is_the_shape_of_each_second() -> None:
    segments = [Segment(4, 30), Segment(8, 90)]
    assert [planned_at(segments, t, 8, open_model=True) for t in (0, 3, 4, 7, 8)] == [30, 30, 90, 90, 0]
    assert planned_at([Segment(10, 40, ramp=True)], 4, 10, open_model=False) == 18  # users at 4.5 s


def test_delivered_ratio_per_second_and_over_a_window() -> None:
    seconds = [open_second(t, 40 if t < 4 else 20, 40) for t in range(8)]
    again = LoadSecond.from_wire(json.loads(json.dumps(seconds[5].to_wire())))
    assert again.planned == 40 and again.delivered_ratio == 0.5
    assert LoadSecond(0, 3).delivered_ratio is None  # no plan recorded: unknown, never 0
    check = Check.model_validate({"name": "delivered", "metric": "load_delivered_ratio", "min": 0.9})
    result = judge(check, seconds, {"run": Window("run", ((0.0, 8.0),), "run")})
    assert not result.passed and result.value == pytest.approx(0.75) and result.aggregate == "window"
    # a second planned but with nothing delivered (every worker gone) is a data point, not idle
    empty = LoadSecond(8, 0, open=OpenStats(), planned=40)
    sustained = Check.model_validate({"name": "d", "metric": "load_delivered_ratio", "min": 0.9, "sustained": "2s"})
    got = judge(sustained, [*seconds, empty], {"run": Window("run", ((0.0, 9.0),), "run")})
    assert not got.passed and got.breaches and got.breaches[0][0] == 4.0


def test_an_abort_on_delivery_fires_when_a_worker_is_lost() -> None:
    abort = Abort.model_validate({"name": "lost load", "metric": "load_delivered_ratio", "min": 0.8,
                                  "sustained": "2s"})
    monitor = AbortMonitor.from_scenario([abort], [])
    fired = [monitor.observe_load(open_second(t, 40 if t < 3 else 20, 40)) for t in range(7)]
    assert fired[2] is None and fired[-1] is not None and fired[-1].metric == "load_delivered_ratio"


def test_delivery_is_the_whole_loads_so_request_is_refused() -> None:
    with pytest.raises(ValidationError, match="whole load"):
        Check.model_validate({"name": "d", "metric": "load_delivered_ratio", "min": 0.9, "request": "GET /"})


# -- what a lost worker leaves in the record -----------------------------------------------
class Events:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.emitted.append((kind, fields))
        return fields


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_a_lost_worker_is_an_event_a_problem_and_a_degraded_run() -> None:
    events, observer = Events(), Lines()
    news = worker_news(events, observer)  # type: ignore[arg-type]
    lost = {"type": "worker", "event": "lost", "worker": 1, "host": "b", "remote": True, "t": 4.2,
            "why": "no record from it for 3s"}
    news({"type": "worker", "event": "joined", "worker": 1, "host": "b", "remote": True, "clock": None})
    news(lost)
    assert [kind for kind, _ in events.emitted] == ["worker.joined", "worker.lost"]
    assert events.emitted[1][1]["lost_at"] == 4.2 and "clock" not in events.emitted[0][1]
    assert any("degraded" in line for line in observer.lines)
    record: dict[str, Any] = {}
    problems: list[str] = []
    pool = Load.model_validate({**BASE, "workers": {"local": 1, "remote": 1}}).pool
    load = SimpleNamespace(lost_workers=[lost], workers_report=[{"index": 1, "clock": {"offset_s": -5.0}}])
    record_workers(record, problems, pool, load)  # type: ignore[arg-type]
    assert record["degraded"] is True and record["load_workers"]["lost"] == 1
    assert record["load_workers"]["workers"][0]["clock"]["offset_s"] == -5.0
    assert problems and "ran degraded" in problems[0]
    quiet: dict[str, Any] = {}
    record_workers(quiet, [], Load.model_validate(BASE).pool, load)  # type: ignore[arg-type]
    assert quiet == {}  # one process: nothing to say


def test_the_summary_says_degraded() -> None:
    text = render_markdown({"verdict": "failed", "scenario": "s", "run_id": "r", "status": "completed",
                            "duration_s": 10, "checks": [], "workers_lost": [
                                {"worker": 1, "host": "b", "at": 4.2, "why": "no record from it for 3s"}]})
    assert "Degraded" in text and "load worker 1 (b)" in text


def test_the_worker_command_refuses_bad_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    from faultdrill.cli import main

    monkeypatch.delenv("FAULTDRILL_WORKER_TOKEN", raising=False)
    assert main(["worker", "--master", "10.0.0.5:5557"]) == 2  # no token
    assert main(["worker", "--master", "no-port", "--token", "t"]) == 2


def test_only_an_engine_on_its_local_socket_has_its_proc_read_from_here() -> None:
    from faultdrill.stack.engine import host_reads_ok

    def client(base_url: str) -> SimpleNamespace:
        return SimpleNamespace(api=SimpleNamespace(base_url=base_url))

    assert host_reads_ok(client("http+docker://localhost"))  # unix socket
    assert not host_reads_ok(client("http://127.0.0.1:2375"))  # tcp, even on this machine
    assert not host_reads_ok(client("https://staging:2376"))
    assert not host_reads_ok(client("http+docker://ssh"))
    assert host_reads_ok(None)  # a test's fake container without a client


def test_the_plots_draw_the_plan_beside_what_was_delivered() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from faultdrill.report.plots import open_model_panel, users_panel

    seconds = [open_second(t, 40 if t < 4 else 20, 40) for t in range(8)]
    panel = open_model_panel(seconds)
    assert panel is not None
    fig, ax = plt.subplots()
    panel.draw(ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "planned by the shape / s" in labels
    closed = [LoadSecond(t, 4 if t < 4 else 2, planned=4) for t in range(8)]
    fig2, ax2 = plt.subplots()
    users_panel(closed).draw(ax2)
    assert "planned by the shape" in [line.get_label() for line in ax2.get_lines()]
    plt.close(fig)
    plt.close(fig2)


def test_a_bad_workers_section_is_one_problem_on_its_own_line(tmp_path: Path) -> None:
    import yaml

    from faultdrill.errors import ScenarioError
    from faultdrill.scenario import load_scenario

    repo = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((repo / "scenarios" / "smoke.yaml").read_text())
    data["load"]["workers"] = {"remote": 1, "hosts": 3}
    (tmp_path / "docker").symlink_to(repo / "docker")
    scenario = tmp_path / "sub" / "bad.yaml"
    scenario.parent.mkdir()
    scenario.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario)
    problems = err.value.problems
    assert len(problems) == 1 and "unknown field 'hosts'" in str(err.value), str(err.value)
    assert "local, remote, wait, listen" in str(err.value)
