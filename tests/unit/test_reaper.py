"""The reaper without Docker: its line protocol, journal replay → heals, removal, and its record in words."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from faultdrill.errors import UsageError
from faultdrill.faults.journal import Journal, pending
from faultdrill.reaper import protocol
from faultdrill.reaper.__main__ import listen
from faultdrill.reaper.dockerapi import DockerError
from faultdrill.reaper.heal import Reaper
from faultdrill.reaper.plan import Session, summary_line
from faultdrill.reaper.record import apply_record, build
from faultdrill.report.summary import exit_code_for
from faultdrill.stack.reaper import ReaperConfig, _connect

HOST_API = "http://127.0.0.1:40001"


def toxic() -> dict[str, Any]:
    return {"type": "toxic", "key": ["toxic", HOST_API, "backend", "fd-slow"], "api": HOST_API, "proxy": "backend",
            "toxic": "fd-slow"}


def pause(cid: str = "c-backend") -> dict[str, Any]:
    return {"type": "container", "key": ["container", cid, "pause"], "container": cid, "name": f"fd-r-{cid}",
            "action": "pause"}


def sql(cid: str = "c-db") -> dict[str, Any]:
    return {"type": "sql", "key": ["sql", cid, "lock"], "container": cid, "name": "fd-r-db",
            "application_name": "faultdrill-lock", "user": "postgres", "database": "postgres"}


def entries(*ops: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"seq": i + 1, "op": op, "t": float(i), "action": action} for i, (op, action) in enumerate(ops)]


class FakeEngine:
    """The Docker calls the reaper makes, answered from a dict of containers; every call recorded."""

    def __init__(self, containers: dict[str, dict[str, Any]], exec_exit: int = 0,
                 labelled: dict[str, list[dict[str, Any]]] | None = None, broken: set[str] | None = None) -> None:
        self.containers = containers
        self.exec_exit = exec_exit
        self.objects = labelled or {"containers": [], "networks": [], "volumes": []}
        self.broken = broken or set()
        self.calls: list[tuple[str, ...]] = []

    def labelled(self, kind: str, label: str) -> list[dict[str, Any]]:
        self.calls.append(("labelled", kind, label))
        return self.objects[kind]

    def inspect(self, container: str) -> dict[str, Any]:
        if container not in self.containers:
            raise DockerError(404, f"No such container: {container}")
        return {"State": self.containers[container]}

    def post(self, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        self.calls.append(("POST", path, json.dumps(body)))
        if path in self.broken:
            raise DockerError(500, "refused")

    def delete(self, path: str, query: dict[str, Any] | None = None) -> Any:
        self.calls.append(("DELETE", path))
        if path in self.broken:
            raise DockerError(409, "in use")

    def exec(self, container: str, cmd: list[str], env: dict[str, str] | None = None, wait_s: float = 30.0) -> int:
        self.calls.append(("exec", container, " ".join(cmd)))
        return self.exec_exit


def session_with(*ops: tuple[str, dict[str, Any]]) -> Session:
    session = Session(run_id="r")
    for message in ({"type": "hello", "run_id": "r", "started_wall": 1000.0},
                    {"type": "clock", "t0_wall": 1010.0},
                    {"type": "stack", "network": "faultdrill-r", "toxiproxy_api": HOST_API,
                     "toxiproxy_internal": "http://toxiproxy:8474"},
                    *({"type": "journal", "entry": e} for e in entries(*ops))):
        session.feed(message)
    return session


# --------------------------------------------------------------------------- protocol and replay
def test_protocol_lines_round_trip_and_junk_is_ignored() -> None:
    message = {"type": "journal", "entry": {"seq": 1, "op": "apply", "action": toxic()}}
    assert protocol.decode(protocol.encode(message)) == message
    assert protocol.decode(b"not json\n") is None and protocol.decode(b"[1, 2]\n") is None
    assert protocol.decode(b'{"no": "type"}\n') is None


def test_replay_keeps_what_the_journal_keeps(tmp_path: Path) -> None:
    """The reaper's idea of 'active' is the journal's: apply opens, revert closes, update/heal_failed do not."""
    lines: list[dict[str, Any]] = []
    with Journal(tmp_path / "journal.jsonl", tee=lines.append) as journal:
        journal.record("apply", toxic())
        journal.record("apply", pause())
        journal.record("update", {**toxic(), "attributes": {"latency": 5}})
        journal.record("revert", pause())
        journal.record("apply", sql())
        journal.record("heal_failed", {**sql(), "error": "x"})
    session = Session()
    for line in lines:
        session.feed({"type": "journal", "entry": line})
    assert session.pending() == pending(tmp_path / "journal.jsonl") == [toxic(), sql()]


def test_the_run_clock_start_and_the_in_stack_toxiproxy_address_are_taken_from_the_harness() -> None:
    session = session_with(("apply", toxic()))
    assert session.started_wall == 1010.0  # t=0 of the run clock, not the setup's start
    assert session.api_for(toxic()) == "http://toxiproxy:8474"
    assert session.api_for({**toxic(), "api": "http://elsewhere:1"}) == "http://elsewhere:1"


# --------------------------------------------------------------------------- healing
def test_every_active_fault_is_healed_newest_first_through_the_stack_network() -> None:
    engine = FakeEngine({"c-backend": {"Status": "paused", "Paused": True}, "c-db": {"Status": "running"}})
    http_calls: list[tuple[str, str, Any]] = []

    def http(method: str, url: str, body: Any) -> int:
        http_calls.append((method, url, body))
        return 204

    session = session_with(("apply", toxic()), ("apply", pause()), ("apply", sql()))
    outcomes = Reaper(engine, session, "fd-r-reaper", http).heal_all()
    assert [(o.action["type"], o.state, o.detail) for o in outcomes] == [
        ("sql", "healed", "lock holder ended"), ("container", "healed", "container unpaused"),
        ("toxic", "healed", "toxic removed")]
    assert engine.calls[0] == ("POST", "/networks/faultdrill-r/connect", json.dumps({"Container": "fd-r-reaper"}))
    assert ("POST", "/containers/c-backend/unpause", "null") in engine.calls
    terminate = next(c for c in engine.calls if c[0] == "exec")
    assert terminate[1] == "c-db" and "pg_terminate_backend" in terminate[2] and "'faultdrill-lock'" in terminate[2]
    assert http_calls == [("DELETE", "http://toxiproxy:8474/proxies/backend/toxics/fd-slow", None)]


def test_a_gone_target_is_nothing_left_and_a_failed_heal_does_not_stop_the_others() -> None:
    engine = FakeEngine({"c-db": {"Status": "running"}}, exec_exit=2)

    def unreachable(method: str, url: str, body: Any) -> int:
        raise OSError("connection refused")

    session = session_with(("apply", toxic()), ("apply", pause("c-gone")), ("apply", sql()))
    outcomes = {o.action["type"]: o for o in Reaper(engine, session, "me", unreachable).heal_all()}
    assert outcomes["sql"].state == "failed" and "exited 2" in outcomes["sql"].detail
    assert outcomes["container"].state == "nothing left" and "gone" in outcomes["container"].detail
    assert outcomes["toxic"].state == "nothing left" and "unreachable" in outcomes["toxic"].detail


def test_removal_spares_the_reaper_leaves_the_network_first_and_names_what_it_could_not_remove() -> None:
    objects = {"containers": [{"Id": "a" * 64, "Names": ["/fd-r-web"]}, {"Id": "b" * 64, "Names": ["/fd-r-reaper"]},
                              {"Id": "c" * 64, "Names": ["/fd-r-db"]}],
               "networks": [{"Id": "n1", "Name": "faultdrill-r"}], "volumes": [{"Name": "fd-r-data"}]}
    engine = FakeEngine({}, labelled=objects, broken={"/volumes/fd-r-data"})
    removed, failed = Reaper(engine, Session(run_id="r"), "fd-r-reaper").remove_all("r")
    assert removed == {"containers": ["fd-r-web", "fd-r-db"], "networks": ["faultdrill-r"], "volumes": []}
    assert failed == ["volume fd-r-data: Docker answered 409: in use"]
    assert ("labelled", "containers", "faultdrill.run=r") in engine.calls
    assert ("DELETE", "/containers/" + "b" * 64) not in engine.calls
    calls = [c[:2] for c in engine.calls]
    assert calls.index(("POST", "/networks/n1/disconnect")) < calls.index(("DELETE", "/networks/n1"))


# --------------------------------------------------------------------------- the record
def record_for(failed: list[str] | None = None) -> dict[str, Any]:
    session = session_with(("apply", toxic()))
    from faultdrill.reaper.plan import Outcome
    outcomes = [Outcome(toxic(), "healed", "toxic removed")]
    removed = {"containers": ["fd-r-web", "fd-r-backend", "fd-r-toxiproxy"], "networks": ["faultdrill-r"],
               "volumes": []}
    return build(session, outcomes, removed, failed or [], lost_wall=1025.23, grace_s=3.0)


def test_the_record_says_in_one_line_what_the_reaper_did() -> None:
    assert record_for()["summary"] == ("reaped after the harness died at t=15.2 s: healed 1 toxic, "
                                       "removed 3 containers, 1 network")
    assert summary_line({"never_connected": True}) == "reaped after the harness never connected: nothing was left"
    line = summary_line({"harness_lost_at_s": 2.0, "faults": [
        {"type": "container", "state": "healed", "action": {"action": "pause"}},
        {"type": "sql", "state": "healed", "action": {}}], "failed": ["volume v: in use"]})
    assert line == ("reaped after the harness died at t=2.0 s: healed 1 paused container, 1 SQL lock holder, "
                    "could not do 1 thing: volume v: in use (`faultdrill clean` retries)")


def test_applying_the_record_closes_the_journal_marks_the_run_and_is_done_once(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.jsonl") as journal:
        journal.record("apply", toxic())
        journal.record("apply", sql())
    (tmp_path / "run.json").write_text(json.dumps({"status": "running", "problems": []}))
    record = record_for()
    failed_sql = {"type": "sql", "what": "SQL", "state": "failed", "detail": "psql exited 2", "action": sql()}
    record["faults"].append(failed_sql)
    assert apply_record(tmp_path, record) is True
    assert pending(tmp_path / "journal.jsonl") == [sql()]  # the toxic is closed; the failed one is left for clean
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert [(e["op"], e["action"]["by"]) for e in lines[2:]] == [("revert", "reaper"), ("heal_failed", "reaper")]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "crashed" and run["reaped"]["summary"] == record["summary"]
    assert run["problems"] == [record["summary"]]
    assert apply_record(tmp_path, record) is False  # a second time changes nothing
    assert len((tmp_path / "journal.jsonl").read_text().splitlines()) == 4


def test_report_of_a_reaped_run_says_what_the_reaper_did_not_to_run_clean() -> None:
    code, why = exit_code_for({"status": "crashed", "reaped": "reaped after the harness died at t=3.0 s: x"})
    assert code == 3 and why.endswith("reaped after the harness died at t=3.0 s: x") and "clean" not in why
    assert "faultdrill clean" in exit_code_for({"status": "crashed"})[1]


def test_environment_overrides_the_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ReaperConfig.resolve(True, 3.0) == ReaperConfig(True, 3.0)
    monkeypatch.setenv("FAULTDRILL_REAPER_GRACE", "7.5")
    assert ReaperConfig.resolve(True, 3.0) == ReaperConfig(True, 7.5)
    monkeypatch.setenv("FAULTDRILL_REAPER", "off")
    assert ReaperConfig.resolve(True, 3.0).enabled is False
    monkeypatch.setenv("FAULTDRILL_REAPER_GRACE", "soon")
    with pytest.raises(UsageError, match="FAULTDRILL_REAPER_GRACE='soon' is not a grace period"):
        ReaperConfig.resolve(True, 3.0)


# --------------------------------------------------------------------------- the live connection
@pytest.fixture
def reaper_socket() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def _listen_in_thread(server: socket.socket, session: Session) -> tuple[threading.Thread, list[float | None]]:
    result: list[float | None] = []
    thread = threading.Thread(target=lambda: result.append(listen(server, session, connect_timeout=10)))
    thread.start()
    return thread, result


def test_a_connection_that_drops_without_done_is_a_lost_harness(reaper_socket: socket.socket) -> None:
    session = Session(run_id="r")
    thread, result = _listen_in_thread(reaper_socket, session)
    sock = _connect(reaper_socket.getsockname()[1], timeout=5)
    sock.sendall(protocol.encode({"type": "hello", "run_id": "r", "started_wall": 1.0}))
    sock.sendall(protocol.encode({"type": "journal", "entry": entries(("apply", toxic()))[0]}))
    sock.close()  # what the kernel does for a SIGKILLed harness
    thread.join(5)
    assert result and isinstance(result[0], float)
    assert session.pending() == [toxic()]


def test_done_ends_the_reaper_with_a_bye_and_a_probe_without_hello_is_not_a_loss(reaper_socket: socket.socket) -> None:
    session = Session(run_id="r")
    thread, result = _listen_in_thread(reaper_socket, session)
    _connect(reaper_socket.getsockname()[1], timeout=5).close()  # a port probe: said nothing
    sock = _connect(reaper_socket.getsockname()[1], timeout=5)
    sock.sendall(protocol.encode({"type": "hello", "run_id": "r"}) + protocol.encode({"type": "done"}))
    assert protocol.decode(sock.makefile("rb").readline()) == {"type": "bye"}
    thread.join(5)
    assert result == [None]
