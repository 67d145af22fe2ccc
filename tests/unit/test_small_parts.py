"""Pure helpers: durations, shapes, redaction, the journal, /proc/net/tcp parsing, load safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultdrill.durations import parse_duration
from faultdrill.faults.journal import Journal, pending
from faultdrill.load.safety import host_problem
from faultdrill.recorder.provenance import redact
from faultdrill.stack.netns import listening_ports, parse_proc_net_tcp


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("2m", 120), ("1m30s", 90), ("500ms", 0.5), (5, 5),
                                           ("1.5s", 1.5), ("1h", 3600)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["fast", "10 parsecs", "-3s", "", "s", True, [1]])
def test_bad_durations_say_what_to_write(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_redaction_hides_secrets_only() -> None:
    data = {"env": {"DB_PASSWORD": "hunter2", "API_TOKEN": "t", "MODE": "thread",
                    "DATABASE_URL": "postgresql://app:s3cret@db/tickets"}}
    out = redact(data)
    assert out["env"]["DB_PASSWORD"] == "***" and out["env"]["API_TOKEN"] == "***"
    assert out["env"]["MODE"] == "thread"
    assert out["env"]["DATABASE_URL"] == "postgresql://app:***@db/tickets"


def test_journal_pending_is_applied_minus_reverted(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    a = {"type": "toxic", "key": ["toxic", "api", "db", "fd-a"]}
    b = {"type": "toxic", "key": ["toxic", "api", "db", "fd-b"]}
    journal.record("apply", a)
    journal.record("apply", b)
    journal.record("revert", a)
    journal.close()
    with open(path, "a") as fh:
        fh.write('{"seq": 4, "op": "app')  # a line cut short by SIGKILL
    assert pending(path) == [b]


TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0200120A:1F40 0100120A:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0200120A:9C40 0300120A:1538 06 00000000:00000000 00:00000000 00000000     0        0 3 1
"""


def test_proc_net_tcp_parsing() -> None:
    sockets = parse_proc_net_tcp(TCP + TCP.splitlines()[0] + "\n")
    assert listening_ports(sockets) == {8000}
    assert sorted(s.state for s in sockets if s.state != "LISTEN") == ["ESTABLISHED", "TIME_WAIT"]
    est = next(s for s in sockets if s.state == "ESTABLISHED")
    assert est.remote_ip == "10.18.0.1" and est.remote_port == 0xD2A4


@pytest.mark.parametrize("url, allowed", [("http://127.0.0.1:8000", True), ("http://localhost", True),
                                          ("http://127.5.0.1", True), ("http://10.0.0.5", False),
                                          ("https://shop.example.com", False), ("ftp://127.0.0.1", False)])
def test_load_only_goes_to_loopback_by_default(url: str, allowed: bool) -> None:
    assert (host_problem(url, []) is None) is allowed
    assert host_problem("https://shop.example.com", ["shop.example.com"]) is None


def test_time_scaling_scales_the_timeline_not_the_fault() -> None:
    from faultdrill.scenario import load_scenario
    from faultdrill.scenario.scale import scale_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "smoke.yaml").scenario
    half = scale_scenario(scenario, 0.5)
    assert half.duration == 15 and half.faults[0].at == 5 and half.faults[0].end == 10
    assert half.faults[0].toxic.latency == 0.2
    with pytest.raises(ValueError):
        scale_scenario(scenario, 0)


def test_an_internal_error_is_one_clear_line_and_exit_3(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from faultdrill import cli

    def broken(args: object) -> int:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(cli, "cmd_validate", broken)
    monkeypatch.delenv("FAULTDRILL_DEBUG", raising=False)
    assert cli.main(["validate", "x.yaml"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: something nobody expected" in err and "Traceback" not in err


def test_the_console_prints_library_text_as_it_is_not_as_markup() -> None:
    from faultdrill.terminal import ConsoleObserver, console

    observer = ConsoleObserver(every=1)
    with console.capture() as captured:
        observer.log("app_metrics[app2] sampler: no data for 66 ticks")
        observer.second(0, 1, 1, 0, None, ["[bold]odd name"])
    text = captured.get()
    assert "app_metrics[app2] sampler" in text and "fault on: [bold]odd name" in text


def test_the_fault_engine_waits_for_a_slow_toxic_removal_longer_than_the_server_does() -> None:
    # a heal the compatible server is still working on (a stalled reader, up to its per-link bound)
    # must end in the server's answer, not in a client timeout that fails the drill
    from faultdrill.stack.stack import HEAL_TIMEOUT_S
    from faultdrill.toxiproxy_server.toxic_collection import LINK_OPERATION_TIMEOUT

    assert HEAL_TIMEOUT_S > LINK_OPERATION_TIMEOUT + 2


def test_an_owner_label_is_alive_while_its_process_is_or_when_another_host_made_it() -> None:
    import os
    import socket
    import subprocess

    from faultdrill.stack.labels import OWNER, owner_alive, run_labels

    gone = subprocess.Popen(["true"])
    gone.wait()
    here = socket.gethostname()
    assert run_labels("r1", "service")[OWNER] == f"{here}:{os.getpid()}"
    assert owner_alive(f"{here}:{os.getpid()}")
    assert not owner_alive(f"{here}:{gone.pid}")
    assert owner_alive(f"not-{here}:1")  # another host's run: not ours to judge, so left alone
    assert not owner_alive("") and not owner_alive("garbage")
