"""Healing a killed run from its journal: each entry on its own, honest outcomes, removal anyway.

Docker is faked behind the SDK calls the healing uses; Toxiproxy is faultdrill's own server,
in-process.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from faultdrill import cli
from faultdrill.clock import RunClock
from faultdrill.drill import SilentObserver, _recover_crashed_runs
from faultdrill.faults.actions import ProxyAction
from faultdrill.faults.engine import FaultEngine, ScheduledFault
from faultdrill.faults.journal import Journal, pending
from faultdrill.faults.recovery import heal_journal
from faultdrill.recorder.events import EventLog
from faultdrill.scenario.fault_model import Fault
from faultdrill.stack.cleanup import clean
from faultdrill.toxiproxy.client import ToxiproxyClient
from faultdrill.toxiproxy_server import ToxiproxyServer


# --------------------------------------------------------------------------- fakes
@dataclass
class FakeContainer:
    """A container as the Docker SDK shows it; ``broken`` methods raise the engine's APIError."""

    id: str
    name: str
    status: str = "running"
    exec_exit: int = 0
    broken: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    removed: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = SimpleNamespace(api=FakeExecApi(self))

    def _do(self, what: str, then: str | None = None) -> None:
        self.calls.append(what)
        if what in self.broken:
            raise docker.errors.APIError(self.broken[what])
        if then:
            self.status = then

    def reload(self) -> None:
        pass

    def unpause(self) -> None:
        self._do("unpause", "running")

    def start(self) -> None:
        self._do("start", "running")

    def stop(self, timeout: int = 10) -> None:
        self._do("stop", "exited")

    def exec_run(self, cmd: list[str], environment: dict[str, str] | None = None) -> Any:
        self._do("exec")
        return SimpleNamespace(exit_code=self.exec_exit, output=b"")

    def remove(self, force: bool = False, v: bool = False) -> None:
        self._do("remove")
        self.removed = True


class FakeExecApi:
    def __init__(self, container: FakeContainer) -> None:
        self.container = container

    def exec_create(self, container_id: str, cmd: list[str], environment: dict[str, str] | None = None) -> dict:
        self.container._do("exec")
        return {"Id": "exec-1"}

    def exec_start(self, exec_id: str, detach: bool = False) -> None:
        pass

    def exec_inspect(self, exec_id: str) -> dict:
        return {"Running": False, "ExitCode": self.container.exec_exit}


class FakeDocker:
    """``containers.get/list``, ``networks.list``, ``volumes.list``: what healing and cleaning use."""

    def __init__(self, *containers: FakeContainer) -> None:
        self.by_id = {c.id: c for c in containers}
        self.containers = SimpleNamespace(get=self._get, list=self._list)
        self.networks = SimpleNamespace(list=lambda filters=None: [])
        self.volumes = SimpleNamespace(list=lambda filters=None: [])

    def _get(self, container_id: str) -> FakeContainer:
        if container_id not in self.by_id or self.by_id[container_id].removed:
            raise docker.errors.NotFound(f"No such container: {container_id}")
        return self.by_id[container_id]

    def _list(self, all: bool = False, filters: dict | None = None) -> list[FakeContainer]:
        return [c for c in self.by_id.values() if not c.removed]


def journal_with(path: Path, *actions: dict[str, Any]) -> Path:
    journal = Journal(path)
    for action in actions:
        journal.record("apply", action)
    journal.close()
    return path


def pause(container: FakeContainer) -> dict[str, Any]:
    return {"type": "container", "key": ["container", container.id, "pause"], "container": container.id,
            "name": container.name, "action": "pause", "signal": None}


def exec_entry(container: FakeContainer, undo: list[str] | None) -> dict[str, Any]:
    return {"type": "exec", "key": ["exec", container.id, "x"], "container": container.id, "name": container.name,
            "command": ["tc", "qdisc", "add"], "undo": undo}


def stress(container_id: str) -> dict[str, Any]:
    return {"type": "stress", "key": ["stress", container_id, "s"], "container": container_id,
            "name": "run-backend-1", "pid_file": "/tmp/p", "cpu": 1, "memory": None}


def ops(journal: Path) -> list[str]:
    return [json.loads(line)["op"] for line in journal.read_text().splitlines()]


# --------------------------------------------------------------------------- each entry on its own
def test_a_heal_that_fails_does_not_stop_the_others(tmp_path: Path) -> None:
    db = FakeContainer("c-db", "run-db-1", status="paused", broken={"unpause": "cannot unpause: cgroup is frozen"})
    web = FakeContainer("c-web", "run-web-1", status="paused")
    (tmp_path / "run-1").mkdir()
    journal = journal_with(tmp_path / "run-1" / "journal.jsonl",
                           pause(web), stress("c-vanished"), pause(db))  # db newest: healed first
    healings = heal_journal(journal, FakeDocker(db, web))

    assert [(h.what, h.state) for h in healings] == [
        ("container pause of run-db-1", "failed"),
        ("stress in run-backend-1", "nothing left"),
        ("container pause of run-web-1", "healed"),
    ]
    assert web.status == "running"  # healed although the one before it failed
    assert healings[0].line().startswith("could not heal: run-1: container pause of run-db-1: ")
    assert "cgroup is frozen" in healings[0].line()
    assert pending(journal) == [pause(db)]  # a real failure stays pending, to be tried again
    assert ops(journal)[-3:] == ["heal_failed", "revert", "revert"]


def test_a_failed_entry_is_not_retried_forever_once_its_container_is_gone(tmp_path: Path) -> None:
    (tmp_path / "run-1").mkdir()
    db = FakeContainer("c-db", "run-db-1", status="paused", broken={"unpause": "cannot unpause"})
    journal = journal_with(tmp_path / "run-1" / "journal.jsonl", pause(db))
    client = FakeDocker(db)
    assert [h.state for h in heal_journal(journal, client)] == ["failed"]
    db.removed = True  # the stack was removed
    again = heal_journal(journal, client)
    assert [(h.state, h.detail) for h in again] == [("nothing left", "its container is gone (the fault went with it)")]
    assert pending(journal) == [] and heal_journal(journal, client) == []


def test_an_undo_command_that_fails_is_reported_not_called_done(tmp_path: Path) -> None:
    (tmp_path / "run-1").mkdir()
    web = FakeContainer("c-web", "run-web-1", exec_exit=7)
    journal = journal_with(tmp_path / "run-1" / "journal.jsonl", exec_entry(web, ["tc", "qdisc", "del"]))
    (healing,) = heal_journal(journal, FakeDocker(web))
    assert healing.state == "failed" and "`tc qdisc del` in run-web-1 exited 7" in healing.detail


@pytest.mark.parametrize("status, kind, state", [
    ("exited", "stress", "nothing left"),    # its processes ended with the container
    ("paused", "stress", "failed"),          # frozen, still there
    ("exited", "exec", "failed"),            # the undo cannot run; what it undoes may persist
])
def test_what_a_stopped_container_means(tmp_path: Path, status: str, kind: str, state: str) -> None:
    (tmp_path / "run-1").mkdir()
    web = FakeContainer("c-web", "run-web-1", status=status)
    entry = stress("c-web") if kind == "stress" else exec_entry(web, ["undo"])
    journal = journal_with(tmp_path / "run-1" / "journal.jsonl", entry)
    assert [h.state for h in heal_journal(journal, FakeDocker(web))] == [state]


def test_removal_goes_on_past_an_object_that_cannot_be_removed() -> None:
    stuck = FakeContainer("c1", "run-db-1", broken={"remove": "removal of container c1 is already in progress"})
    fine = FakeContainer("c2", "run-web-1")
    done = clean(FakeDocker(stuck, fine), "run-1")  # type: ignore[arg-type]
    assert done.containers == ["run-web-1"] and fine.removed
    assert done.failed == ["container run-db-1: removal of container c1 is already in progress"]


# --------------------------------------------------------------------------- what the user sees
def dead_run(results: Path, run_id: str) -> Path:
    run_dir = results / run_id
    run_dir.mkdir(parents=True)
    owner = {"pid": 2**22 + 7, "hostname": socket.gethostname()}  # above pid_max: never alive
    (run_dir / "run.json").write_text(json.dumps({"status": "running", "owner": owner}))
    return run_dir


def test_clean_heals_what_it_can_removes_everything_and_exits_3_naming_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    db = FakeContainer("c-db", "run-db-1", status="paused", broken={"unpause": "cannot unpause: cgroup is frozen"})
    web = FakeContainer("c-web", "run-web-1", status="paused")
    run_dir = dead_run(tmp_path, "run-1")
    journal_with(run_dir / "journal.jsonl", pause(web), pause(db))
    client = FakeDocker(db, web)
    monkeypatch.setattr("faultdrill.stack.engine.connect", lambda: client)

    code = cli.main(["clean", "--results", str(tmp_path), "--run", "run-1"])
    captured = capsys.readouterr()
    assert code == 3
    assert ("could not heal: run-1: container pause of run-db-1: Docker refused: cannot unpause: cgroup is frozen"
            in captured.out)
    assert "healed: run-1: container pause of run-web-1: container restored" in captured.out
    assert db.removed and web.removed  # removed anyway
    assert "1 thing(s) could not be healed or removed: run-1: container pause of run-db-1" in captured.err

    assert cli.main(["clean", "--results", str(tmp_path), "--run", "run-1"]) == 0  # nothing is left of it now
    assert "nothing left to heal: run-1: container pause of run-db-1" in capsys.readouterr().out


def test_a_later_run_is_not_blocked_by_a_fault_it_cannot_heal(tmp_path: Path) -> None:
    db = FakeContainer("c-db", "run-db-1", status="paused", broken={"unpause": "cannot unpause"})
    journal = journal_with(dead_run(tmp_path, "run-1") / "journal.jsonl", pause(db))
    lines: list[str] = []
    observer = SilentObserver()
    observer.log = lines.append  # type: ignore[method-assign]
    events = EventLog(tmp_path / "events.jsonl", RunClock())
    _recover_crashed_runs(FakeDocker(db), tmp_path, "run-2", observer, events)  # type: ignore[arg-type]
    events.close()
    assert any(line.startswith("warning: a fault left by a killed run: could not heal: run-1") for line in lines)
    assert db.removed  # its stack went anyway
    assert json.loads((tmp_path / "run-1" / "run.json").read_text())["status"] == "crashed"
    assert pending(journal) == [pause(db)]


# --------------------------------------------------------------------------- proxy upstream
@pytest.fixture
def toxiproxy() -> Iterator[ToxiproxyClient]:
    with ToxiproxyServer("127.0.0.1", 0) as server, ToxiproxyClient(server.api_url) as client:
        client.create_proxy("db", "127.0.0.1:0", "127.0.0.1:5432")
        yield client


def test_a_killed_upstream_fault_is_healed_back_to_the_real_previous_upstream(tmp_path: Path,
                                                                               toxiproxy: ToxiproxyClient) -> None:
    (tmp_path / "run-1").mkdir()
    journal_path = tmp_path / "run-1" / "journal.jsonl"
    fault = Fault.model_validate({"name": "failover", "at": 0,
                                  "proxy": {"proxy": "db", "action": "upstream", "upstream": "127.0.0.1:6543"}})
    engine = FaultEngine([ScheduledFault(fault, ProxyAction(toxiproxy, fault.proxy))],  # type: ignore[arg-type]
                         Journal(journal_path), EventLog(tmp_path / "events.jsonl", RunClock()), lambda: 1.0)
    engine.tick()
    engine.journal.close()  # ... and the run is killed here, the fault still on
    assert toxiproxy.proxies()["db"].upstream == "127.0.0.1:6543"

    (healing,) = heal_journal(journal_path)
    assert healing.line() == ("healed: run-1: proxy db upstream → 127.0.0.1:6543: "
                              "upstream restored to 127.0.0.1:5432")
    assert toxiproxy.proxies()["db"].upstream == "127.0.0.1:5432"


def test_recovery_never_says_restored_when_it_does_not_know_what_to_restore(tmp_path: Path,
                                                                            toxiproxy: ToxiproxyClient) -> None:
    (tmp_path / "run-1").mkdir()
    toxiproxy.update_proxy("db", upstream="127.0.0.1:6543")
    entry = {"type": "proxy", "key": ["proxy", toxiproxy.api_url, "db", "upstream"], "api": toxiproxy.api_url,
             "proxy": "db", "action": "upstream", "upstream": "127.0.0.1:6543", "previous_upstream": None}
    journal = journal_with(tmp_path / "run-1" / "journal.jsonl", entry)  # as older faultdrill wrote it
    (healing,) = heal_journal(journal)
    assert healing.state == "failed" and "restored" not in healing.line()
    assert "does not say what proxy 'db' pointed at" in healing.detail
    assert pending(journal) == [entry]


def test_a_toxic_whose_toxiproxy_is_gone_is_nothing_left(tmp_path: Path) -> None:
    (tmp_path / "run-1").mkdir()
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{sock.getsockname()[1]}"
    entry = {"type": "toxic", "key": ["toxic", api, "db", "fd-x"], "api": api, "proxy": "db", "toxic": "fd-x"}
    (healing,) = heal_journal(journal_with(tmp_path / "run-1" / "journal.jsonl", entry))
    assert (healing.state, healing.detail) == ("nothing left", "Toxiproxy is gone (the fault went with it)")
