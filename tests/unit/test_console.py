"""The web console without Docker: tokens and roles, Host/Origin checks, hidden faults kept out of every
byte a responder can fetch, the live stream's catch-up, marks with names. A real HTTP server on
127.0.0.1 in front of the game-day controller, fake fault actions, a ticking thread standing in for the
drill's loop."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultdrill.clock import RunClock
from faultdrill.console import access as access_module
from faultdrill.console.access import CONTROL_ROLES, READ_ROLES, Access, Role, host_names, parse_listen
from faultdrill.console.feed import FrameLog, LiveCharts
from faultdrill.console.live import ConsoleSettings
from faultdrill.drill import LiveDrill
from faultdrill.errors import UsageError
from faultdrill.faults.engine import FaultEngine, ScheduledFault
from faultdrill.faults.journal import Journal
from faultdrill.gameday.controller import GameDayController
from faultdrill.gameday.retrospective import render_retrospective
from faultdrill.histograms import LoadSecond, RequestStats
from faultdrill.recorder.events import EventLog, read_events
from faultdrill.recorder.rundir import RunDir
from faultdrill.report.story import latency_chart
from faultdrill.scenario import parse_scenario
from tests.helpers import SCENARIOS
from tests.unit.test_fault_engine import FakeAction

SECRET = "mystery"  # gameday.yaml's hidden fault (number 2)


def second(t: int, ms: float = 10.0, n: int = 20) -> LoadSecond:
    stats = RequestStats()
    for _ in range(n):
        stats.record(ms)
    return LoadSecond(t, 10, {"GET /": stats})


# ---------------------------------------------------------------------------------------------- access
def test_each_token_has_its_role_and_only_the_facilitators_controls() -> None:
    access = Access(host_names("127.0.0.1", 8800))
    assert access.role(access.facilitator_token) is Role.FACILITATOR
    assert access.role(access.responder_token) is Role.RESPONDER
    for wrong in (None, "", access.facilitator_token[:-1], access.responder_token + "x", "Bearer"):
        assert access.role(wrong) is None
    host = "127.0.0.1:8800"
    assert access.check(host, None, access.responder_token, READ_ROLES) is Role.RESPONDER
    assert access.check(host, None, access.responder_token, CONTROL_ROLES) == (
        403, "the responder link cannot do this (the facilitator's can)")
    assert access.check(host, None, access.facilitator_token, CONTROL_ROLES) is Role.FACILITATOR
    assert access.check(host, None, "guess", READ_ROLES)[0] == 401  # type: ignore[index]
    assert access.facilitator_token != access.responder_token
    assert Access(frozenset()).facilitator_token != access.facilitator_token  # random per run
    assert access.facilitator_token not in repr(access) and access.responder_token not in repr(access)


def test_tokens_are_compared_in_constant_time_against_both(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = access_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access_module.hmac, "compare_digest", spy)
    access = Access(frozenset())
    for token in (access.facilitator_token, access.responder_token, "wrong", None):
        calls.clear()
        access.role(token)
        assert {b for _, b in calls} == {access.facilitator_token.encode(), access.responder_token.encode()}


def test_host_and_origin_must_be_the_consoles_own() -> None:
    access = Access(host_names("127.0.0.1", 8800))
    token = access.facilitator_token
    for host in ("127.0.0.1:8800", "localhost:8800", "LOCALHOST:8800"):
        assert access.check(host, None, token, CONTROL_ROLES) is Role.FACILITATOR
        assert access.check(host, "http://127.0.0.1:8800", token, CONTROL_ROLES) is Role.FACILITATOR
    for host in ("evil.example:8800", "127.0.0.1:8801", "127.0.0.1", None):  # DNS rebinding names its own host
        assert access.check(host, None, token, CONTROL_ROLES)[0] == 421  # type: ignore[index]
    for origin in ("http://evil.example", "https://127.0.0.1:8800", "null", "http://127.0.0.1:8801"):  # CSRF
        assert access.check("127.0.0.1:8800", origin, token, CONTROL_ROLES)[0] == 403  # type: ignore[index]
    shared = Access(host_names("10.0.0.5", 8800))
    assert shared.host_ok("10.0.0.5:8800") and not shared.host_ok("localhost:8800")
    assert Access(host_names("::1", 9000)).host_ok("[::1]:9000")


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8800") == ("127.0.0.1", 8800)
    assert parse_listen("10.0.0.5") == ("10.0.0.5", 0)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad, says in (("0.0.0.0:8800", "wildcard"), ("[::]:1", "wildcard"), ("console.example:80", "IP address"),
                      ("127.0.0.1:99999", "out of range"), ("127.0.0.1:x", "ADDR:PORT")):
        with pytest.raises(UsageError, match=says):
            parse_listen(bad)


# ---------------------------------------------------------------------------------------------- feed parts
def test_live_chart_points_are_the_reports_and_gaps_stay_gaps() -> None:
    charts = LiveCharts("run-1", {}, 1.0)
    first = charts.delta([second(0), second(1)], [])
    later = charts.delta([second(4, ms=300.0)], [])  # seconds 2 and 3 never came
    latency = next(c for c in first if c["key"] == "story-latency")
    report = latency_chart([second(0), second(1)])
    assert [line["label"] for line in latency["lines"]] == [line.label for line in report.lines if line.points]
    p95 = next(line for line in latency["lines"] if line["label"] == "p95 successful")
    assert p95["xs"] == [0.5, 1.5]
    p95_later = next(line for c in later if c["key"] == "story-latency" for line in c["lines"]
                     if line["label"] == "p95 successful")
    assert p95_later["xs"][0] == 3.0 and p95_later["ys"][0] is None  # a gap, never a joined line
    assert p95_later["xs"][1] == 4.5 and p95_later["ys"][1] >= 290


def test_frame_log_catch_up_from_any_id() -> None:
    log = FrameLog()
    for i in range(5):
        log.append({role: f"{role.value}-{i}".encode() for role in Role})
    frames, closed = log.since(Role.RESPONDER, 2, 0.01)
    assert [i for i, _ in frames] == [3, 4, 5] and frames[0][1] == b"responder-2" and not closed
    assert [i for i, _ in log.since(Role.FACILITATOR, 0, 0.01)[0]] == [1, 2, 3, 4, 5]
    log.close()
    assert log.since(Role.RESPONDER, 5, 5.0) == ([], True)  # no wait once closed


# ---------------------------------------------------------------------------------------------- served
class Console:
    """A game day on fake faults with its web console served for real; ``tick`` stands in for the drill."""

    def __init__(self, tmp_path: Path) -> None:
        data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
        data["description"] = f"Practice: the {SECRET} fault is the one to find."  # a careless description
        data["checks"].append({"name": f"{SECRET} shows as slow", "metric": "p95_ms", "window": "run",
                               "max": 100})  # a check named after the hidden fault
        scenario = parse_scenario(yaml.safe_dump(data), "gameday", base_dir=SCENARIOS)
        self.run_dir = RunDir.create(tmp_path, "run-1")
        self.clock = RunClock()
        self.events = EventLog(self.run_dir.events, self.clock)
        self.engine = FaultEngine([ScheduledFault(f, FakeAction(f.name)) for f in scenario.faults],
                                  Journal(tmp_path / "journal.jsonl"), self.events, self.clock.now)
        self.said: list[str] = []
        self.controller = GameDayController(with_endpoint=False, console=ConsoleSettings(), announce=self.said.append)
        self.controller.attach(LiveDrill(scenario, self.run_dir, self.clock, self.engine, self.events,
                                         scenario.duration))
        assert self.controller.console is not None and self.controller.console.access is not None
        self.web = self.controller.console
        self.access = self.web.access
        self.port = self.web.server.port  # type: ignore[union-attr]
        self.host = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()
        self.t = 0

    def _tick(self) -> None:
        while not self._stop.is_set():
            self.engine.tick()
            self.controller.tick()
            time.sleep(0.02)

    def seconds(self, n: int, ms: float = 10.0) -> None:
        for _ in range(n):
            self.controller.on_second(second(self.t, ms))
            self.t += 1
        self.framed(self.t - 1)

    def framed(self, t: int, timeout: float = 10.0) -> None:
        """Waits until the feed thread has made the frame holding second ``t`` (woken by it: at once)."""
        log = self.web.feed.log  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames, _ = log.since(Role.FACILITATOR, len(log) - 1, 0.05)
            if frames and json.loads(frames[-1][1])["t"] >= t:
                return
        raise AssertionError(f"no frame with second {t} within {timeout:g} s")

    def request(self, method: str, path: str, token: str | None = None, body: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {"Host": self.host, **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def stream(self, token: str, last: int | None = None, frames: int = 1) -> tuple[list[int], bytes]:
        """Reads the live stream until ``frames`` frames came: their ids and every byte received."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Host": self.host, **({"Last-Event-ID": str(last)} if last is not None else {})}
        conn.request("GET", f"/api/stream?token={token}", headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
        ids: list[int] = []
        raw = b""
        while True:
            line = resp.fp.readline()
            raw += line
            if line.startswith(b"id: "):
                ids.append(int(line[4:]))
            if not line or line.startswith(b"event: end") or (line == b"\n" and len(ids) >= frames):
                break
        conn.close()
        return ids, raw

    def everything(self, token: str) -> bytes:
        """Every byte this token can fetch: the page, hello, the whole stream, refusals of every command."""
        out = self.request("GET", "/console")[1] + self.request("GET", "/api/hello", token)[1]
        out += self.stream(token, frames=len(self.web.feed.log))[1]  # type: ignore[union-attr]
        for path in ("/api/faults/2/inject", "/api/faults/2/reveal", "/api/faults/9/inject", "/api/pause", "/api/marks"):
            out += self.request("POST", path, token, {})[1]
        return out

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(2)
        self.controller.close()
        self.events.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = Console(tmp_path)
    try:
        yield c
    finally:
        c.close()


def test_the_links_are_printed_once_and_written_nowhere(console: Console, tmp_path: Path) -> None:
    assert console.access is not None
    fac, resp = console.access.facilitator_token, console.access.responder_token
    assert len(console.said) == 2
    assert console.said[0].endswith(f"/console#{fac}") and console.said[1].endswith(f"/console#{resp}")
    console.seconds(2)
    console.request("POST", "/api/marks", resp, {"kind": "detected", "by": "Ana"})
    console.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert fac.encode() not in text and resp.encode() not in text, path


def test_only_the_facilitator_changes_state_and_only_from_the_console_itself(console: Console) -> None:
    assert console.access is not None
    fac, resp = console.access.facilitator_token, console.access.responder_token
    assert console.request("POST", "/api/faults/1/inject")[0] == 401
    assert console.request("POST", "/api/faults/1/inject", resp)[0] == 403
    assert console.request("POST", "/api/pause", resp, {"paused": True})[0] == 403
    assert console.request("POST", "/api/faults/1/inject", fac, headers={"Origin": "http://evil.example"})[0] == 403
    assert console.request("POST", "/api/faults/1/inject", fac, headers={"Host": f"evil.example:{console.port}"})[0] == 421
    assert console.request("GET", "/console", headers={"Host": "evil.example"})[0] == 421
    assert console.request("GET", f"/api/stream?token={resp}", headers={"Host": "evil.example"})[0] == 421
    assert console.request("GET", "/api/faults/1/inject", fac)[0] == 404  # a GET never changes state
    assert not any(item.active for item in console.engine.scheduled)

    status, body = console.request("POST", "/api/faults/1/inject", fac, {},
                                   headers={"Origin": f"http://{console.host}"})
    assert status == 200, body
    assert [item.fault.name for item in console.engine.scheduled if item.active] == ["slow backend"]
    assert console.request("POST", "/api/pause", fac, {"paused": True})[0] == 200
    assert console.engine.paused
    assert console.request("POST", "/api/pause", fac, {"paused": False})[0] == 200
    assert not console.engine.paused
    kinds = [e["kind"] for e in read_events(console.run_dir.events)]
    assert "timeline.paused" in kinds and "timeline.resumed" in kinds
    retro = render_retrospective({"run_id": "run-1"}, read_events(console.run_dir.events), "gameday")
    assert "the facilitator paused the timeline" in retro and "the facilitator resumed the timeline" in retro


def test_a_hidden_fault_is_in_no_byte_a_responder_can_fetch_until_revealed(console: Console) -> None:
    assert console.access is not None
    fac, resp = console.access.facilitator_token, console.access.responder_token
    console.seconds(2)
    assert console.request("POST", "/api/faults/2/inject", fac, {})[0] == 200  # the hidden one
    console.seconds(3, ms=400.0)
    assert [item.fault.name for item in console.engine.scheduled if item.active] == [SECRET]
    seen = console.everything(resp)
    assert SECRET.encode() not in seen
    assert b"\"kind\":\"container\"" not in seen and b"backend: pause" not in seen  # nor its kind
    assert b"p95 successful" in seen  # the symptom is there: the curves
    assert b"hidden fault #2 shows as slow" in seen  # and the check it breaks, by its placeholder
    assert SECRET.encode() in console.everything(fac)

    assert console.request("POST", "/api/faults/2/reveal", fac, {})[0] == 200
    console.seconds(1)
    assert f"{SECRET} (hidden fault #2)".encode() in console.everything(resp)


def test_a_late_viewer_gets_the_whole_run_then_resumes_where_it_left(console: Console) -> None:
    assert console.access is not None
    resp = console.access.responder_token
    console.seconds(3)
    console.seconds(3)
    total = len(console.web.feed.log)  # type: ignore[union-attr]
    ids, raw = console.stream(resp, frames=total)
    assert ids == list(range(1, total + 1))
    frames = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith(b"data: {")]
    assert sorted(t for f in frames for t in f["seconds"]) == list(range(6))  # every second, once
    again, _ = console.stream(resp, last=total - 2, frames=2)  # reconnects with Last-Event-ID
    assert again == [total - 1, total]


def test_marks_carry_their_authors_name_to_everyone_and_the_retrospective(console: Console) -> None:
    assert console.access is not None
    fac, resp = console.access.facilitator_token, console.access.responder_token
    console.seconds(1)
    assert console.request("POST", "/api/marks", resp, {"kind": "detected", "by": "Ana"})[0] == 200
    assert console.request("POST", "/api/marks", resp, {"kind": "hypothesis", "text": "backend is slow",
                                                        "by": "Bo"})[0] == 200
    status, body = console.request("POST", "/api/marks", resp, {"kind": "detected"})
    assert status == 400 and b"name" in body
    assert console.request("POST", "/api/marks", resp, {"kind": "inject", "by": "Ana"})[0] == 400
    console.seconds(1)
    _, raw = console.stream(fac, frames=len(console.web.feed.log))  # type: ignore[union-attr]
    assert b'"annotation":"detected"' in raw and b'"by":"Ana"' in raw
    events = read_events(console.run_dir.events)
    retro = render_retrospective({"run_id": "run-1"}, events, "gameday")
    assert "**detected** (Ana)" in retro and "**hypothesis** (Bo) — backend is slow" in retro


# ---------------------------------------------------------------------------------------------- afterwards
def test_the_report_links_a_timeline_page_with_the_marks_and_their_authors(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from faultdrill.report import plots, summary
    from faultdrill.report.sample import write_sample_run
    from faultdrill.report.summary import render_all

    monkeypatch.setattr(summary, "build_panels", lambda data: plots.PanelSet())  # the story, without the panels

    run_dir, scenario = write_sample_run(tmp_path / "run", samples=False)
    with run_dir.events.open("a", encoding="utf-8") as fh:
        for event in ({"t": 22.0, "wall": "2026-12-01T06:00:22", "kind": "annotation", "annotation": "detected",
                       "text": "", "by": "Ana"},
                      {"t": 25.0, "wall": "2026-12-01T06:00:25", "kind": "annotation", "annotation": "hypothesis",
                       "text": "<script>alert(1)</script> the db", "by": "Bo & co"}):
            fh.write(json.dumps(event) + "\n")
    render_all(run_dir, scenario, "completed")
    report = (run_dir.path / "report.html").read_text()
    assert 'href="timeline.html"' in report
    assert "detected (Ana)" in report and "hypothesis (Bo &amp; co): &lt;script&gt;" in report  # the story's marks
    page = (run_dir.path / "timeline.html").read_text()
    assert "<b>detected</b> (Ana)" in page and "Bo &amp; co" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; the db" in page
    assert "fault <b>slow db</b> started" in page  # the run's own record: real names
    assert page.index("22 s") < page.index("25 s")


@pytest.fixture
def gameday_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``faultdrill gameday ARGS`` in this process (the CLI's ``main``, as ``python -m faultdrill`` runs it):
    its exit code and stderr. A game day that gets as far as starting fails the test instead of starting."""
    from faultdrill import cli
    from faultdrill.gameday import session

    def started(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the game day started")

    monkeypatch.setattr(session, "run_gameday", started)
    monkeypatch.delenv("FAULTDRILL_DEBUG", raising=False)

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(["gameday", *args])
        return code, capsys.readouterr().err

    return run


def test_a_bad_or_taken_listen_address_is_a_usage_error_before_anything_starts(gameday_cli: Any) -> None:
    import socket

    from faultdrill.console.live import check_listen

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match="cannot listen there"):
            check_listen(ConsoleSettings("127.0.0.1", port))
        code, err = gameday_cli(str(SCENARIOS / "gameday.yaml"), "--listen", f"127.0.0.1:{port}")
    assert code == 2 and "cannot listen there" in err and "Traceback" not in err and "internal error" not in err
    code, err = gameday_cli(str(SCENARIOS / "gameday.yaml"), "--listen", "0.0.0.0:8800")
    assert code == 2 and "wildcard" in err and "Traceback" not in err and "internal error" not in err


def test_a_paused_timeline_starts_and_ends_no_scheduled_fault_but_hands_still_can(tmp_path: Path) -> None:
    from tests.unit.test_fault_engine import FakeClock

    data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
    data["faults"].append({"name": "drain", "at": 5, "for": 10,
                           "toxic": {"proxy": "backend", "type": "bandwidth", "rate": 10}})
    scenario = parse_scenario(yaml.safe_dump(data), "gameday", base_dir=SCENARIOS)
    clock = FakeClock()
    engine = FaultEngine([ScheduledFault(f, FakeAction(f.name)) for f in scenario.faults],
                         Journal(tmp_path / "journal.jsonl"), EventLog(tmp_path / "events.jsonl", RunClock()), clock)
    drain = engine.find("drain")
    engine.paused = True
    for t in range(0, 9):
        clock.t = float(t)
        engine.tick()
    assert drain.started_at is None  # its time came and went while paused
    engine.inject("slow backend")  # by hand still works
    assert engine.find("slow backend").active
    engine.paused = False
    clock.t = 9.0
    engine.tick()
    assert drain.active and drain.started_at == 9.0
    engine.paused = True
    clock.t = 30.0
    engine.tick()
    assert drain.active  # its end waits too
    engine.paused = False
    engine.tick()
    assert not drain.active


def test_a_hidden_fault_named_like_a_service_is_refused_before_anything_starts(tmp_path: Path,
                                                                              gameday_cli: Any) -> None:
    data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
    data["faults"][1]["name"] = "backend"  # the services table would show it
    scenario = SCENARIOS / f".gameday-unhideable-{tmp_path.name}.yaml"
    scenario.write_text(yaml.safe_dump(data))
    try:
        code, err = gameday_cli(str(scenario), "--no-view", "--results", str(tmp_path))
    finally:
        scenario.unlink(missing_ok=True)
    assert code == 2 and "hidden fault 'backend' is named like 'backend'" in err
    assert "Traceback" not in err and not any(tmp_path.iterdir())  # nothing started


def test_a_hidden_name_is_scrubbed_from_strings_only_so_the_json_stays_valid() -> None:
    from faultdrill.console.redact import FaultInfo, scrub, unhideable

    def hidden(name: str) -> FaultInfo:
        return FaultInfo(1, name, "hidden fault #1", "toxic", "db", True, False, True, 1.0, None, None, None)

    frame = {"paused": True, "t": 3, "check": "mystery p95 under 150 ms", "events": [{"detail": "mystery"}]}
    out = json.loads(scrub(json.dumps(frame), [hidden("mystery")]))
    assert out == {"paused": True, "t": 3, "check": "hidden fault #1 p95 under 150 ms",
                   "events": [{"detail": "hidden fault #1"}]}
    assert json.loads(scrub(json.dumps(frame), [hidden("true")]))["paused"] is True  # a literal, not a name
    assert json.loads(scrub(json.dumps(frame), [hidden("t")]))["t"] == 3  # keys are the page's, not data
    for name in ("latency", "t", "errors"):  # inside a chart key the page reads: refused before starting
        assert unhideable([name], [True], ["backend"]), name
    assert not unhideable(["mystery"], [True], ["backend"])


def test_a_frame_that_cannot_be_built_is_said_once_and_its_seconds_come_with_the_next(tmp_path: Path) -> None:
    from faultdrill.console.feed import ConsoleFeed, LiveStatus

    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"t": 0.5, "kind": "run.start"}) + "\n")
    charts = LiveCharts("run", {}, 1.0)
    said: list[str] = []
    feed = ConsoleFeed(lambda: LiveStatus(2.0, 10, False, "running", [], {}, []), events, charts, on_error=said.append)
    real_delta, broken = charts.delta, [True]

    def delta(*args: Any) -> Any:
        if broken[0]:
            raise ZeroDivisionError("a chart builder broke")
        return real_delta(*args)

    charts.delta = delta  # type: ignore[method-assign]
    feed.add_second(second(0))
    feed.add_second(second(1))
    feed._safe_frame()
    feed._safe_frame()
    assert len(said) == 1 and "ZeroDivisionError: a chart builder broke" in said[0] and len(feed.log) == 0
    broken[0] = False
    feed._safe_frame()
    frames, _ = feed.log.since(Role.RESPONDER, -1, 0)
    frame = json.loads(frames[-1][1])
    assert frame["seconds"] == [0, 1] and [e["kind"] for e in frame["events"]] == ["run.start"]  # nothing lost
