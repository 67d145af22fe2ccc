"""The demo target fails the way the seed's incidents failed, and recovers with the fixes switched on.

Load here is a bounded pool of plain threads against 127.0.0.1 (each loop stops by count and time);
faults are applied through the harness's own fault actions.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import docker
from faultdrill.faults.actions import action_for
from faultdrill.scenario import parse_scenario
from faultdrill.scenario.fault_model import Fault
from faultdrill.stack.stack import DockerStack
from tests.demo import demo_stack
from tests.helpers import BUSY_SLACK_S, SCENARIOS, labelled

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@contextmanager
def running(**switches: Any) -> Iterator[DockerStack]:
    scenario = parse_scenario(yaml.safe_dump(demo_stack(**switches)), "demo", base_dir=SCENARIOS)
    run_id = f"test-demo-{secrets.token_hex(3)}"
    with DockerStack(docker.from_env(), scenario, SCENARIOS, run_id, print) as stack:
        yield stack
    assert labelled(run_id) == []


def url(stack: DockerStack, service: str, port: int, path: str) -> str:
    assert stack.info is not None
    return f"http://127.0.0.1:{stack.info.services[service]['ports'][str(port)]}{path}"


def http(method: str, target: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(target, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (TimeoutError, OSError):
        return 0, None  # timed out or the connection failed


def metrics(stack: DockerStack) -> dict[str, float]:
    try:
        with urllib.request.urlopen(url(stack, "app", 8000, "/metrics"), timeout=3 + BUSY_SLACK_S) as resp:
            text = resp.read().decode()
    except (OSError, urllib.error.HTTPError):
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def hammer(work: Callable[[int], None], workers: int, seconds: float, max_calls: int,
           stop: threading.Event | None = None) -> threading.Thread:
    """Bounded background load: ``workers`` threads calling ``work(i)`` until time or count runs out (or
    ``stop`` is set)."""
    stop_at = time.monotonic() + seconds
    counter = iter(range(max_calls))
    lock = threading.Lock()
    stop = stop or threading.Event()

    def loop() -> None:
        while time.monotonic() < stop_at and not stop.is_set():
            with lock:
                i = next(counter, None)
            if i is None:
                return
            work(i)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    runner = threading.Thread(target=lambda: [t.join() for t in threads], daemon=True)
    runner.start()
    return runner


def black_hole_mail(stack: DockerStack):  # type: ignore[no-untyped-def]
    return action_for(Fault.model_validate({"name": f"mail black hole {secrets.token_hex(2)}", "toxic": {
        "proxy": "mail", "type": "timeout", "timeout": 0, "stream": "upstream"}}),
        stack.scenario, stack.toxiproxy, stack.containers)


def slow_mail(stack: DockerStack):  # type: ignore[no-untyped-def]
    return action_for(Fault.model_validate({"name": f"slow mail {secrets.token_hex(2)}",
                                            "toxic": {"proxy": "mail", "type": "latency", "latency": "20s"}}),
                      stack.scenario, stack.toxiproxy, stack.containers)


def test_stack_starts_healthy_quickly() -> None:
    with running() as stack:
        assert stack.info is not None
        print(f"demo stack healthy in {stack.info.startup_seconds:.1f}s")
        assert stack.info.startup_seconds < 30
        assert http("GET", url(stack, "app", 8000, "/events/1"))[0] == 200


def test_thread_mode_mail_pileup_takes_reads_down_in_the_fast_fail_mode() -> None:
    # REQUEST_OVERFLOW=reject: a read that finds no thread left to start is refused at once (503). The
    # default (wait) makes it queue instead: that signature is asserted on the mail-outage drill's run.
    with running(mail_mode="thread", pids_limit=128, overflow="reject") as stack:
        fault = black_hole_mail(stack)  # every mail thread now waits the full 30 s timeout
        fault.apply()
        try:
            enough = threading.Event()
            run = hammer(lambda i: http("POST", url(stack, "app", 8000, "/signup"),
                                        {"email": f"u{i}@example.com"}, timeout=3), workers=8, seconds=45,
                         max_calls=12000, stop=enough)
            seen: list[tuple[int, int]] = []  # (pids in the container, status of a read) sampled together
            deadline = time.monotonic() + 40
            # whether a read finds the last pid taken is a race: up to 40 reads at the limit, until 3 failed

            def settled() -> bool:
                at_limit = [code for pids, code in seen if pids >= 120]
                return len(at_limit) >= 40 or (len(at_limit) >= 10 and sum(c != 200 for c in at_limit) >= 3)

            while time.monotonic() < deadline and not settled():
                # from Docker, not the app: its own /metrics needs a thread too, and there is none left
                stats = stack.containers["app"].stats(stream=False, one_shot=True)
                pids = int(stats.get("pids_stats", {}).get("current", 0))
                seen.append((pids, http("GET", url(stack, "app", 8000, "/events/1"), timeout=3)[0]))
                time.sleep(0.2)
            enough.set()
            run.join(55)
        finally:
            fault.revert()
    at_limit = [code for pids, code in seen if pids >= 120]
    assert len(at_limit) >= 10, f"threads never reached the 128-pid limit: {seen}"
    # the outage spreads beyond sign-up: reads fail whenever sign-ups have taken the last pid
    assert sum(code != 200 for code in at_limit) >= 3, seen


def test_skip_mode_keeps_reads_healthy_and_resend_mails_everyone() -> None:
    with running(mail_mode="skip", pids_limit=128) as stack:
        fault = slow_mail(stack)
        fault.apply()
        reads: list[int] = []
        signed: list[int] = []
        try:
            run = hammer(lambda i: signed.append(http("POST", url(stack, "app", 8000, "/signup"),
                                                      {"email": f"s{i}@example.com"}, timeout=5)[0]),
                         workers=8, seconds=10, max_calls=400)
            for _ in range(10):  # answered, not queued behind threads the 20 s mail holds (room for a busy machine)
                reads.append(http("GET", url(stack, "app", 8000, "/events/1"), timeout=3 + BUSY_SLACK_S)[0])
                time.sleep(0.3)
            run.join(30)
            assert metrics(stack).get("ticketing_threads_live", 999) < 40
        finally:
            fault.revert()
        assert reads == [200] * 10
        users = signed.count(201)
        assert users > 50
        status, answer = http("POST", url(stack, "app", 8000, "/admin/resend-verifications"), timeout=120)
        assert status == 200 and answer["sent"] == users, answer
        assert http("GET", url(stack, "mail", 8025, "/messages"))[1]["count"] == users  # nobody lost their mail


def entry_burst(stack: DockerStack, event: int, n: int, workers: int) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    codes: list[int] = []

    def one(i: int) -> None:
        start = time.monotonic()
        code, _ = http("POST", url(stack, "app", 8000, f"/events/{event}/entries"), {"email": f"e{i}@example.com"},
                       timeout=20)
        latencies.append(time.monotonic() - start)
        codes.append(code)

    hammer(one, workers=workers, seconds=60, max_calls=n).join(90)
    return sorted(latencies), codes


def p95(values: list[float]) -> float:
    return values[int(0.95 * (len(values) - 1))]


def slow_db(stack: DockerStack):  # type: ignore[no-untyped-def]
    return action_for(Fault.model_validate({"name": f"slow db {secrets.token_hex(2)}",
                                            "toxic": {"proxy": "db", "type": "latency", "latency": "5ms"}}),
                      stack.scenario, stack.toxiproxy, stack.containers)


def test_locking_contends_and_queued_does_not_and_neither_oversells() -> None:
    results: dict[str, float] = {}
    for mode in ("locking", "queued"):
        with running(entry_mode=mode, mail_mode="skip") as stack:
            fault = slow_db(stack)
            fault.apply()
            try:
                latencies, codes = entry_burst(stack, event=2, n=600, workers=24)
                seen = metrics(stack)
            finally:
                fault.revert()
            results[mode] = p95(latencies)
            if mode == "locking":
                assert seen.get("ticketing_db_lock_waits_total", 0) > 10, seen  # contention is visible
                assert seen.get("ticketing_db_pool_waiting", 0) >= 0
            time.sleep(1.5)  # the allocator grants queued entries
            _, event = http("GET", url(stack, "app", 8000, "/events/2"))
            assert 0 <= event["granted"] <= event["inventory"]  # never oversold
            assert all(code in (200, 201, 202) for code in codes), set(codes)
    print(f"entries p95: locking {results['locking'] * 1000:.0f} ms, queued {results['queued'] * 1000:.0f} ms")
    assert results["queued"] < 0.7 * results["locking"]


def test_oversell_is_impossible_on_a_hot_event() -> None:
    with running(entry_mode="locking", mail_mode="skip") as stack:
        _, codes = entry_burst(stack, event=1, n=300, workers=32)
        _, event = http("GET", url(stack, "app", 8000, "/events/1"))
        assert event["granted"] == 100 and codes.count(201) == 100


def tls_get(port: int, legacy: bool) -> bool:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if legacy:  # an old mobile OS: TLS 1.0-1.1 only (OpenSSL 3 needs SECLEVEL 0 to offer them at all)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/events/1", context=ctx, timeout=5) as resp:
            return resp.status == 200
    except (ssl.SSLError, urllib.error.URLError, OSError):
        return False


def test_legacy_tls_clients_fail_only_against_the_modern_policy() -> None:
    with running(mail_mode="skip", ingress=True) as stack:
        assert stack.info is not None
        ports = stack.info.services["ingress"]["ports"]
        legacy_port, modern_port = int(ports["8443"]), int(ports["9443"])
        assert tls_get(legacy_port, legacy=True)
        assert not tls_get(modern_port, legacy=True)
        assert tls_get(legacy_port, legacy=False) and tls_get(modern_port, legacy=False)


def test_sql_lock_holder_makes_writes_wait_until_healed() -> None:
    with running(entry_mode="locking", mail_mode="skip") as stack:
        holder = action_for(Fault.model_validate({"name": "lock holder", "sql": {
            "service": "db", "statements": ["SELECT * FROM inventory WHERE event_id = 2 FOR UPDATE"]}}),
            stack.scenario, stack.toxiproxy, stack.containers)
        held_for = 2.0  # how long the test lets a write wait on the held lock
        took = []
        for i in range(3):  # a write is quick: the fastest of three, as a busy machine slows some down
            start = time.monotonic()
            code, _ = http("POST", url(stack, "app", 8000, "/events/2/entries"), {"email": f"before{i}@example.com"})
            assert code == 201
            took.append(time.monotonic() - start)
        assert min(took) < held_for / 2, took
        holder.apply()
        try:
            start = time.monotonic()
            code, _ = http("POST", url(stack, "app", 8000, "/events/2/entries"), {"email": "held@example.com"},
                           timeout=held_for)
            assert code == 0 and time.monotonic() - start >= held_for - 0.1  # the write waits on the held row lock
            assert metrics(stack).get("ticketing_db_lock_waiting", 0) >= 1
        finally:
            holder.revert()
        # healed: a write goes through again (with the lock still held it would wait until its timeout)
        code, _ = http("POST", url(stack, "app", 8000, "/events/2/entries"), {"email": "after@example.com"},
                       timeout=held_for + BUSY_SLACK_S)
        assert code == 201
