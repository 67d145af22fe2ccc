"""The load engine for real: Locust in its child process against local servers on 127.0.0.1.

No Docker: every target is a server this test starts (faultdrill.load.localserver, or a raw
socket server for resets). Each run is bounded by its shape's duration and the child's deadline.
"""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from faultdrill.histograms import LoadSecond, RequestStats, percentile_ms
from faultdrill.load.config import ChildConfig
from faultdrill.load.localserver import LocalServer, ServerOptions
from faultdrill.load.process import LoadProcess
from faultdrill.load.shape import Segment
from faultdrill.stack.netns import parse_proc_net_tcp
from tests.helpers import BUSY_SLACK_S

HTTP_USER_FILE = """
from locust import HttpUser, constant, task

class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/", name="GET /")
"""


def run(tmp_path: Path, config: ChildConfig, during: Callable[[float], None] | None = None,
        timeout: float = 60, before_start: Callable[[float], None] | None = None) -> list[LoadSecond]:
    """Prepare the generator, start its run clock ``t0`` (``before_start(t0)``, then ``during(t0)``),
    gather every second."""
    seconds: list[LoadSecond] = []
    with LoadProcess(duration=config.duration, host=config.host, journeys=config.journeys,
                     log_path=tmp_path / "locust.log", config=config) as load:
        t0 = time.monotonic()
        if before_start is not None:
            before_start(t0)
        load.start(seconds.append, t0)
        if during is not None:
            during(t0)
        assert load.finished.wait(timeout), (tmp_path / "locust.log").read_text()[-3000:]
    assert load.error is None, load.error
    return seconds


def cfg(host: str, journeys: str, segments: list[Segment], duration: float, **kw: object) -> ChildConfig:
    return ChildConfig(t0=0.0, duration=duration, host=host, journeys=journeys, segments=segments,
                       request_timeout=kw.pop("request_timeout", 5.0), **kw)  # type: ignore[arg-type]


def totals(seconds: list[LoadSecond], profile: str | None = None) -> dict[str, RequestStats]:
    out: dict[str, RequestStats] = {}
    for second in seconds:
        requests = second.requests if profile is None else second.profiles.get(profile, {})
        for name, stats in requests.items():
            out.setdefault(name, RequestStats()).add(stats)
    return out


def established_to(port: int) -> int:
    """Server-side ESTABLISHED sockets on 127.0.0.1:port (what the target sees as open connections)."""
    text = Path("/proc/net/tcp").read_text()
    return sum(1 for s in parse_proc_net_tcp(text) if s.state == "ESTABLISHED" and s.local_port == port)


def locustfile(tmp_path: Path, text: str, name: str = "journeys.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# -- connections ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["FastHttpUser (builtin:smoke)", "HttpUser (plain locustfile)"])
def test_connections_close_when_users_stop(tmp_path: Path, kind: str) -> None:
    with LocalServer() as server:
        journeys = "builtin:smoke" if kind.startswith("Fast") else locustfile(tmp_path, HTTP_USER_FILE)
        config = cfg(server.url, journeys, [Segment(6, 6), Segment(10, 0)], 10)
        seen: dict[str, int] = {}

        def watch(t0: float) -> None:
            # while the 6 users run (t < 6 s), then after they stop and before the child exits at 10 s
            # (which would close any connection): polled, so a late read on a busy machine is not a miss
            seen["running"] = seen["stopped"] = -1
            while time.monotonic() - t0 < 5.8 and seen["running"] < 6:
                seen["running"] = established_to(server.port)
                time.sleep(0.1)
            while time.monotonic() - t0 < 6.0:
                time.sleep(0.05)
            while time.monotonic() - t0 < 9.5 and seen["stopped"] != 0:
                seen["stopped"] = established_to(server.port)
                time.sleep(0.1)

        seconds = run(tmp_path, config, watch)
    assert seen["running"] >= 6, seen  # one keep-alive connection per user while they run
    assert seen["stopped"] == 0, seen  # users stopped at 6 s: their connections are gone
    assert max(s.users for s in seconds) == 6 and seconds[-1].users == 0
    assert totals(seconds)["GET /"].failures == 0


# -- failures by kind -------------------------------------------------------------------------
class ResetServer:
    """Accepts, reads the request, answers with a TCP RST (SO_LINGER 0)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                conn.recv(4096)
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def __enter__(self) -> ResetServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAILURES_FILE = """
import os
from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser

OK, SLOW, RESET, REFUSED = (os.environ["FD_" + k] for k in ("OK", "SLOW", "RESET", "REFUSED"))

class Fast(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def all_kinds(self):
        self.client.get(OK + "/status503", name="fast 503")
        self.client.get(REFUSED + "/", name="fast refused")
        self.client.get(RESET + "/", name="fast reset")
        self.client.get(SLOW + "/", name="fast timeout")

class Requests(HttpUser):
    wait_time = constant(0.2)

    @task
    def all_kinds(self):
        self.client.get(OK + "/status503", name="requests 503")
        self.client.get(REFUSED + "/", name="requests refused")
        self.client.get(RESET + "/", name="requests reset")
        self.client.get(SLOW + "/", name="requests timeout", timeout=1.5)
"""


def test_failures_are_classified_for_both_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalServer(ServerOptions(statuses={"/status503": 503})) as ok, \
            LocalServer(ServerOptions(delay=4.5)) as slow, ResetServer() as reset:
        for key, url in {"OK": ok.url, "SLOW": slow.url, "RESET": f"http://127.0.0.1:{reset.port}",
                         "REFUSED": f"http://127.0.0.1:{closed_port()}"}.items():
            monkeypatch.setenv(f"FD_{key}", url)
        # a 1.5 s timeout: the slow server (4.5 s) always times out, and the quick answers (503, reset) on a
        # busy machine never do (0.5 s was once too little for a 503 beside another test's drill)
        config = cfg(ok.url, locustfile(tmp_path, FAILURES_FILE), [Segment(5, 2)], 5, request_timeout=1.5)
        seconds = run(tmp_path, config)
    found = {name: set(stats.errors) for name, stats in totals(seconds).items()}
    for client in ("fast", "requests"):
        assert found[f"{client} 503"] == {"HTTP 503"}, found
        assert found[f"{client} refused"] == {"connection refused"}, found
        assert found[f"{client} reset"] <= {"connection reset", "connection closed"} and found[f"{client} reset"], found
        assert found[f"{client} timeout"] == {"timeout"}, found
    assert found["fast reset"] == {"connection reset"} or found["requests reset"] == {"connection reset"}, found


# -- TLS client profiles -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return str(d / "cert.pem"), str(d / "key.pem")


def server_context(cert: tuple[str, str], legacy: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert)
    if legacy:  # a listener that still accepts old clients (OpenSSL 3: only at security level 0)
        with pytest.warns(DeprecationWarning):
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:  # the modern-only policy of the seed's incident 2
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


BOTH_CLIENTS_FILE = """
from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser

class Fast(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def home(self):
        self.client.get("/", name="fast GET /")

class Requests(HttpUser):
    wait_time = constant(0.1)

    @task
    def home(self):
        self.client.get("/", name="requests GET /", verify=False)
"""

PROFILES = [{"name": "legacy", "share": 0.5, "tls": {"max_version": "1.1", "ciphers": "DEFAULT:@SECLEVEL=0"}},
            {"name": "modern", "share": 0.5, "tls": None}]


@pytest.mark.parametrize("listener", ["modern-only", "legacy-friendly"])
def test_legacy_tls_profile_fails_only_against_a_modern_only_listener(tmp_path: Path, cert: tuple[str, str],
                                                                       listener: str) -> None:
    with LocalServer(ssl_context=server_context(cert, legacy=listener == "legacy-friendly")) as server:
        config = cfg(server.url, locustfile(tmp_path, BOTH_CLIENTS_FILE), [Segment(5, 4)], 5, profiles=PROFILES)
        seconds = run(tmp_path, config)
    legacy, modern = totals(seconds, "legacy"), totals(seconds, "modern")
    assert set(legacy) == set(modern) == {"fast GET /", "requests GET /"}
    for name in legacy:
        assert modern[name].count > 5 and modern[name].failures == 0
        if listener == "modern-only":
            assert legacy[name].count > 0 and legacy[name].failures == legacy[name].count
            assert set(legacy[name].errors) == {"tls handshake"}, legacy[name].errors
        else:
            assert legacy[name].count > 5 and legacy[name].failures == 0
    conns = {p: sum(s.conns[p].tls_ok for s in seconds if p in s.conns) for p in ("legacy", "modern")}
    tls_errors = sum(s.conns["legacy"].tls_errors for s in seconds if "legacy" in s.conns)
    attempted = sum(s.conns["legacy"].requests for s in seconds if "legacy" in s.conns)
    assert conns["modern"] >= 2
    if listener == "modern-only":  # incident 2: requests attempted, but no connection gets through
        assert conns["legacy"] == 0 and tls_errors >= 1 and attempted >= tls_errors
    else:
        assert conns["legacy"] >= 2 and tls_errors == 0
    # the total is both profiles together
    assert totals(seconds)["fast GET /"].count == legacy["fast GET /"].count + modern["fast GET /"].count


# -- the open model ---------------------------------------------------------------------------
def test_open_model_sends_on_schedule_and_measures_from_the_intended_time(tmp_path: Path) -> None:
    with LocalServer(ServerOptions(freeze_every=3.0, freeze_for=1.0)) as server:
        config = cfg(server.url, "builtin:smoke", [Segment(3, 0), Segment(9, 100)], 9, mode="open")
        seconds = run(tmp_path, config, before_start=lambda t0: setattr(server, "origin", t0))  # freezes on t0
        served = server.stats.requests
    opened = [s for s in seconds if s.open is not None]
    intended = sum(s.open.intended for s in opened)  # type: ignore[union-attr]
    sent = sum(s.open.sent for s in opened)  # type: ignore[union-attr]
    assert intended == 600  # exactly the shape: 100/s for 6 s
    assert sent == 600 - sum(s.open.dropped for s in opened)  # type: ignore[union-attr]
    assert sent >= 590 and served >= sent - 5
    stats = totals(seconds)["GET /"]
    # two 1 s freezes in 6 s: a third of the arrivals wait up to 1 s; a closed loop would hide them
    assert percentile_ms(stats.hist, 90) >= 400  # type: ignore[operator]
    assert percentile_ms(stats.hist, 100) >= 800  # type: ignore[operator]
    for second in seconds:
        if 4 <= second.t < 9 and second.t % 3 != 2:  # outside a freeze, the curve follows the rate:
            # sent on schedule (counted by intended second), and answered in step (counted by the second
            # they complete in, which a stall of a busy machine can shift by a fraction of a second)
            assert second.open is not None and second.open.sent >= 90, [(s.t, s.open) for s in seconds]
            assert second.total().count >= 75, [(s.t, s.total().count) for s in seconds]


def test_open_model_counts_drops_when_max_in_flight_is_reached(tmp_path: Path) -> None:
    with LocalServer(ServerOptions(delay=0.5)) as server:
        config = cfg(server.url, "builtin:smoke", [Segment(2, 0), Segment(5, 100)], 5, mode="open", max_in_flight=10)
        seconds = run(tmp_path, config)
    opened = [s for s in seconds if s.open is not None and s.t >= 3]
    # 100/s with 0.5 s each needs ~50 in flight; only 10 are allowed: ~80 % dropped, and said so
    assert all(s.open.dropped >= 60 for s in opened if s.t < 5), [s.open for s in opened]  # type: ignore[union-attr]
    assert any("dropped" in w for s in opened for w in s.warnings)


# -- ticketing journeys ----------------------------------------------------------------------
def test_ticketing_journeys_use_route_names(tmp_path: Path) -> None:
    with LocalServer(ServerOptions(ticketing=True, body=b'{"entry_id": 7, "status": "pending"}')) as server:
        config = cfg(server.url, "builtin:ticketing", [Segment(6, 20)], 6, think_time=(0.05, 0.1))
        seconds = run(tmp_path, config)
        paths = dict(server.stats.paths)
    names = totals(seconds)
    assert set(names) == {"GET /events", "GET /events/{id}", "POST /events/{id}/entries", "POST /signup",
                          "GET /events/{id}/entries/{entry_id}"}
    assert all(stats.failures == 0 for stats in names.values()), {n: s.errors for n, s in names.items()}
    browse = names["GET /events"].count + names["GET /events/{id}"].count
    assert browse > names["POST /events/{id}/entries"].count > names["POST /signup"].count > 0
    assert any(p.startswith("/events/1") for p in paths) and "/signup" in paths


# -- scale-out ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_workers_merge_exactly(tmp_path: Path) -> None:
    with LocalServer() as server:
        config = cfg(server.url, "builtin:smoke", [Segment(10, 8)], 10, workers=2)
        seconds = run(tmp_path, config)
        served = server.stats.requests
    counted = sum(s.total().count for s in seconds)
    # every request the server answered is in exactly one merged second — except the few (at most one
    # per user) that were in flight when the workers stopped: the server answered, the user was gone
    assert served - 8 <= counted <= served, (counted, served)
    loaded = [s for s in seconds if s.total().count]
    assert loaded and all(s.workers == 2 for s in loaded), [(s.t, s.workers) for s in seconds]
    assert max(s.users for s in seconds) == 8
    assert [s.t for s in seconds] == list(range(len(seconds)))


@pytest.mark.slow
def test_two_workers_share_the_open_schedule(tmp_path: Path) -> None:
    with LocalServer() as server:
        config = cfg(server.url, "builtin:smoke", [Segment(10, 60)], 10, mode="open", workers=2)
        seconds = run(tmp_path, config)
        served = server.stats.requests
    intended = sum(s.open.intended for s in seconds if s.open)
    assert intended == 600
    sent = sum(s.open.sent for s in seconds if s.open)
    assert sent == served == sum(s.total().count for s in seconds)
    # both workers got the run clock's t0 once connected: nothing was due before they could send
    assert sum(s.open.dropped for s in seconds if s.open) == 0
    assert seconds[0].open is not None and seconds[0].open.sent == 60 and seconds[0].workers == 2


# -- the run clock starts when the generator is ready (issue 12) -----------------------------------
def test_second_0_is_a_full_second_of_load(tmp_path: Path) -> None:
    with LocalServer() as server:
        config = cfg(server.url, "builtin:smoke", [Segment(5, 10)], 5)
        seconds = run(tmp_path, config)
    counts = [s.total().count for s in seconds]
    steady = sorted(counts[1:5])[1]  # ~100/s: 10 users, 50-150 ms between requests
    # the generator was prepared before the clock started: no empty second 0, no catch-up burst at 1
    # (a busy machine can hold a second's requests back a few tenths of a second, as in the smoke drill)
    assert counts[0] >= 0.5 * steady and counts[1] <= 1.4 * steady, counts
    assert seconds[0].users == 10, [s.users for s in seconds]


def test_open_model_drops_nothing_at_the_start(tmp_path: Path) -> None:
    with LocalServer() as server:
        config = cfg(server.url, "builtin:smoke", [Segment(4, 20)], 4, mode="open")
        seconds = run(tmp_path, config)
    opened = [s.open for s in seconds if s.open is not None]
    assert sum(o.dropped for o in opened) == 0, opened
    first = seconds[0].open
    # all 20 sent in their second; answers count in the second they complete (a busy machine moves a few)
    assert first is not None and first.intended == first.sent == 20 and seconds[0].total().count >= 15, first
    assert sum(o.sent for o in opened) == 80


# -- the stream fails closed (issue 12) ------------------------------------------------------------
def test_a_failing_callback_stops_the_stream_and_says_which_second(tmp_path: Path) -> None:
    got: list[int] = []

    def on_second(second: LoadSecond) -> None:
        if second.t == 2:
            raise RuntimeError("disk full")
        got.append(second.t)

    # second 2 is handed over at t = 3 s; the run would end at 8 s: the failure is noticed in between,
    # with a busy machine's slack, before the end
    noticed_by = 3.0 + BUSY_SLACK_S
    with LocalServer() as server:
        config = cfg(server.url, "builtin:smoke", [Segment(8, 2)], 8)
        with LoadProcess(duration=config.duration, host=config.host, journeys=config.journeys,
                         log_path=tmp_path / "locust.log", config=config) as load:
            t0 = load.start(on_second)
            deadline = t0 + noticed_by
            while load.alive and time.monotonic() < deadline:
                time.sleep(0.05)
            failed_after = time.monotonic() - t0
            assert not load.alive and load.finished.wait(20)
    assert failed_after < noticed_by < config.duration  # as soon as second 2 arrived, not at the end of the run
    assert load.error is not None and "second 2" in load.error and "RuntimeError: disk full" in load.error
    assert got == [0, 1]  # nothing after the gap is passed on as if the data were whole
    assert "disk full" in (tmp_path / "locust.log").read_text()  # the traceback, for whoever debugs it


# -- a prepared child never waits forever for its start ----------------------------------------------
def prepared(tmp_path: Path, **kw: object) -> LoadProcess:
    config = cfg("http://127.0.0.1:1", "builtin:smoke", [Segment(5, 1)], 5, **kw)
    return LoadProcess(duration=config.duration, host=config.host, journeys=config.journeys,
                       log_path=tmp_path / "locust.log", config=config)


def test_a_prepared_child_gives_up_when_no_start_comes(tmp_path: Path) -> None:
    with prepared(tmp_path, start_timeout=1.0) as load:
        assert load.proc is not None and load.proc.wait(timeout=10) != 0  # stopped by itself, not by us
        assert load.finished.wait(5)
    assert load.error is not None and "no start came from the drill within 1s" in load.error, load.error


def test_a_prepared_child_stops_when_its_parent_goes_away(tmp_path: Path) -> None:
    with prepared(tmp_path) as load:
        assert load.proc is not None and load.proc.stdin is not None
        load.proc.stdin.close()  # what the child sees when the drill's process dies
        assert load.proc.wait(timeout=5) == 0
        assert load.finished.wait(5) and load.error is None and not load.started.is_set()
