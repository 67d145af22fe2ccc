"""The samplers' parsing and row building, with fakes behind the interfaces they use (no Docker)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass, field

import psycopg
import pytest

from faultdrill.recorder.samplers import sockdiag
from faultdrill.recorder.samplers.app_metrics import (
    AppMetricsSampler,
    metric_rows,
    metrics_url,
)
from faultdrill.recorder.samplers.base import SamplerUnavailable
from faultdrill.recorder.samplers.connections import (
    ConnectionsSampler,
    NetnsReader,
    PeerDirectory,
    connection_rows,
    ips_by_service,
    peer_ip,
)
from faultdrill.recorder.samplers.database import (
    DbReading,
    DbSampler,
    PsqlExecProbe,
    db_row,
    parse_psql_line,
)
from faultdrill.recorder.samplers.proxies import parse_proxy_metrics, proxy_rows
from faultdrill.recorder.samplers.resources import (
    cpu_percent,
    memory_bytes,
    resource_row,
)
from faultdrill.scenario.model import MetricsEndpoint, PostgresProbe
from faultdrill.stack.netns import Socket, listening_ports, parse_proc_net_tcp
from faultdrill.toxiproxy.client import ProxyInfo

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _v4(ip: str, port: int) -> str:
    return "".join(f"{b:02X}" for b in reversed(ipaddress.IPv4Address(ip).packed)) + f":{port:04X}"


def _v6(ip: str, port: int) -> str:
    packed = ipaddress.IPv6Address(ip).packed
    return "".join(packed[i:i + 4][::-1].hex().upper() for i in range(0, 16, 4)) + f":{port:04X}"


def _line(i: int, local: str, remote: str, state: str) -> str:
    return f"   {i}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"


def proc_tables() -> tuple[str, str]:
    """A container listening on 8000 with 2 clients, calling the proxy 'db' (twice) and an outside host."""
    tcp = HEADER + "".join([
        _line(0, _v4("0.0.0.0", 8000), _v4("0.0.0.0", 0), "0A"),
        _line(1, _v4("172.18.0.3", 8000), _v4("172.18.0.1", 50001), "01"),
        _line(2, _v4("172.18.0.3", 8000), _v4("172.18.0.1", 50002), "06"),
        _line(3, _v4("172.18.0.3", 40001), _v4("172.18.0.2", 15432), "01"),
        _line(4, _v4("172.18.0.3", 40002), _v4("172.18.0.2", 15432), "02"),
        _line(5, _v4("172.18.0.3", 40003), _v4("10.9.8.7", 443), "08"),
    ])
    tcp6 = HEADER + "".join([
        _line(0, _v6("::", 9000), _v6("::", 0), "0A"),
        _line(1, _v6("::ffff:172.18.0.3", 9000), _v6("::ffff:172.18.0.4", 50003), "01"),
        _line(2, _v6("::ffff:172.18.0.3", 40004), _v6("::ffff:172.18.0.4", 5432), "01"),
    ])
    return tcp, tcp6


# --------------------------------------------------------------------------- fakes
@dataclass
class ExecResult:
    exit_code: int
    output: object


@dataclass
class FakeContainer:
    """The attributes the samplers use of docker's Container."""

    id: str = "c0ffee"
    attrs: dict = field(default_factory=lambda: {"State": {"Pid": 0}})
    exec_output: bytes | tuple = b""
    exec_code: int = 0
    exec_calls: list = field(default_factory=list)
    reloads: int = 0

    def reload(self) -> None:
        self.reloads += 1

    def exec_run(self, cmd, **kwargs):  # type: ignore[no-untyped-def]
        self.exec_calls.append((cmd, kwargs))
        return ExecResult(self.exec_code, self.exec_output)


@dataclass
class FakeNetwork:
    attrs: dict
    reloads: int = 0

    def reload(self) -> None:
        self.reloads += 1


NETWORK = {"Containers": {
    "id-tp": {"Name": "fd-run-toxiproxy", "IPv4Address": "172.18.0.2/16", "IPv6Address": ""},
    "id-web": {"Name": "fd-run-web", "IPv4Address": "172.18.0.3/16", "IPv6Address": ""},
    "id-db": {"Name": "fd-run-db", "IPv4Address": "172.18.0.4/16", "IPv6Address": ""},
    "id-other": {"Name": "someone-else", "IPv4Address": "172.18.0.9/16", "IPv6Address": ""},
}}
NAMES = {"id-tp": "toxiproxy", "id-web": "web", "id-db": "db"}


def peers() -> PeerDirectory:
    return PeerDirectory(FakeNetwork(NETWORK), NAMES, {"db": 15432}, "toxiproxy")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- connections
def test_tcp6_addresses_are_decoded_and_ipv4_mapped_ones_become_ipv4() -> None:
    assert peer_ip(_v6("::ffff:172.18.0.4", 1).split(":")[0]) == "172.18.0.4"
    assert peer_ip(_v6("fd00::1", 1).split(":")[0]) == "fd00::1"
    assert peer_ip("10.0.0.1") == "10.0.0.1"


def test_ips_map_to_services_of_this_run_only() -> None:
    assert ips_by_service(NETWORK, NAMES) == {"172.18.0.2": "toxiproxy", "172.18.0.3": "web", "172.18.0.4": "db"}


def test_connections_split_inbound_by_port_and_outbound_by_peer_service() -> None:
    tcp, tcp6 = proc_tables()
    container = FakeContainer(id="id-web", exec_output=(tcp + tcp6).encode())  # no /proc: exec fallback
    sampler = ConnectionsSampler("web", container, peers(), declared_ports=[8000])  # type: ignore[arg-type]
    rows = {(r["direction"], r["endpoint"], r["state"]): r["count"] for r in sampler.sample()}
    assert rows == {
        ("inbound", "8000", "ESTABLISHED"): 1, ("inbound", "8000", "TIME_WAIT"): 1,
        ("inbound", "9000", "ESTABLISHED"): 1,
        ("outbound", "proxy.db", "ESTABLISHED"): 1, ("outbound", "proxy.db", "SYN_SENT"): 1,
        ("outbound", "db", "ESTABLISHED"): 1,
        ("outbound", "10.9.8.7:443", "CLOSE_WAIT"): 1,
    }
    assert container.exec_calls[0][0] == ["cat", "/proc/net/tcp", "/proc/net/tcp6"]


def test_idle_ports_and_vanished_connections_are_written_as_zero() -> None:
    seen: set = set()
    busy = [Socket(8000, "0.0.0.0", 0, "LISTEN"), Socket(8000, "172.18.0.1", 5, "ESTABLISHED"),
            Socket(41000, "172.18.0.4", 5432, "ESTABLISHED")]
    first = connection_rows("web", busy, lambda ip, port: "db", [8000, 8001], seen)
    assert {(r["endpoint"], r["count"]) for r in first} == {("8000", 1), ("8001", 0), ("db", 1)}
    later = connection_rows("web", busy[:1], lambda ip, port: "db", [8000, 8001], seen)
    assert {(r["direction"], r["endpoint"], r["state"], r["count"]) for r in later} == {
        ("inbound", "8000", "ESTABLISHED", 0), ("inbound", "8001", "ESTABLISHED", 0),
        ("outbound", "db", "ESTABLISHED", 0)}


def test_unknown_peer_ip_refreshes_the_network_at_most_every_few_seconds() -> None:
    directory = peers()
    assert directory.name("172.18.0.4", 5432) == "db"
    assert directory.name("172.18.0.9", 80) == "172.18.0.9:80"  # not ours
    assert directory.name("fd00::9", 80) == "[fd00::9]:80"
    assert directory.network.reloads == 1  # type: ignore[union-attr]


def test_a_host_pid_that_is_not_the_containers_is_never_read() -> None:
    # a remote engine reports pids of its own host: here, our own pid stands for "some local process"
    tcp, tcp6 = proc_tables()
    container = FakeContainer(id="id-web", attrs={"State": {"Pid": os.getpid()}}, exec_output=(tcp + tcp6).encode())
    reader = NetnsReader(container)  # type: ignore[arg-type]
    assert len(reader.sockets()) == 9 and reader.via == "exec"


def _diag_message(family: int, state: int, sport: int, dport: int, dst: str, src: str | None = None) -> bytes:
    packed = ipaddress.ip_address(dst).packed.ljust(16, b"\0")
    source = ipaddress.ip_address(src).packed.ljust(16, b"\0") if src else bytes(16)
    body = struct.pack("=BBBB", family, state, 0, 0) + struct.pack(">HH", sport, dport) + source + packed
    body += bytes(72 - len(body))
    return struct.pack("=IHHII", 16 + len(body), 18, 2, 1, 0) + body


def test_sock_diag_messages_parse_into_sockets() -> None:
    data = (_diag_message(socket.AF_INET, 10, 8000, 0, "0.0.0.0")
            + _diag_message(socket.AF_INET6, 1, 8000, 50000, "::ffff:172.18.0.1")
            + _diag_message(socket.AF_INET6, 12, 9000, 40000, "fd00::7")
            + struct.pack("=IHHII", 20, 3, 2, 1, 0) + bytes(4))
    out: list[Socket] = []
    assert sockdiag.parse_messages(data, out) is True
    assert [(s.local_port, s.remote_ip, s.remote_port, s.state) for s in out] == [
        (8000, "0.0.0.0", 0, "LISTEN"), (8000, "172.18.0.1", 50000, "ESTABLISHED"), (9000, "fd00::7", 40000, "SYN_RECV")]
    error = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -1) + bytes(16)
    with pytest.raises(OSError, match="Operation not permitted"):
        sockdiag.parse_messages(error, [])


# --------------------------------------------------------------------------- resources
STATS_V1 = {
    "read": "2026-01-01T00:00:01Z",
    "pids_stats": {"current": 37, "limit": 64},
    "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 300}, "eth1": {"rx_bytes": 24, "tx_bytes": 1}},
    "cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000, "percpu_usage": [1, 2]},
                  "system_cpu_usage": 20_000_000_000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000}, "system_cpu_usage": 18_000_000_000},
    "memory_stats": {"usage": 50_000_000, "limit": 134217728,
                     "stats": {"total_inactive_file": 10_000_000, "inactive_file": 9}},
}
INSPECT = {"RestartCount": 2, "State": {"OOMKilled": True, "Running": True},
           "HostConfig": {"PidsLimit": 64, "Memory": 134217728}}


def test_resource_row_follows_docker_stats_on_cgroup_v1() -> None:
    row = resource_row("app", STATS_V1, INSPECT)
    assert row == {"service": "app", "cpu_pct": 50.0, "cpu_limit": None, "host_cpus": None,
                   "mem_bytes": 40_000_000, "mem_limit_bytes": 134217728,
                   "pids": 37, "pids_limit": 64, "net_rx_bytes": 1024, "net_tx_bytes": 301, "restarts": 2,
                   "oom_killed": True}


def test_cgroup_v2_memory_and_missing_previous_cpu_sample() -> None:
    stats = {"memory_stats": {"usage": 100, "stats": {"inactive_file": 30}},
             "cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 10}, "precpu_stats": {}}
    assert memory_bytes(stats) == 70
    assert cpu_percent(stats) is None  # the first sample of a stream


def test_stale_stats_and_unlimited_containers_leave_cells_empty() -> None:
    row = resource_row("app", None, {"RestartCount": 0, "State": {"OOMKilled": False},
                                     "HostConfig": {"PidsLimit": None, "Memory": 0}})
    assert row["cpu_pct"] is row["pids"] is row["mem_limit_bytes"] is row["pids_limit"] is None
    assert row["restarts"] == 0 and row["oom_killed"] is False


def test_a_docker_sample_already_written_gives_empty_cells_at_the_next_tick_not_a_repeat() -> None:
    import threading

    from faultdrill.recorder.samplers.resources import _StatsFeed

    feed = _StatsFeed("app", "id-app", api=None, stop=threading.Event())
    feed.inspect = INSPECT
    feed.stats, feed.stats_at = STATS_V1, 100.0
    first, _ = feed.row(100.2, host_cpus=2)
    again, _ = feed.row(101.2, host_cpus=2)  # Docker published nothing newer in between
    assert first["cpu_pct"] == 50.0 and first["pids"] == 37
    assert again["cpu_pct"] is again["mem_bytes"] is again["pids"] is again["net_rx_bytes"] is None
    assert again["restarts"] == 2 and again["pids_limit"] == 64  # what inspect says is still known
    feed.stats, feed.stats_at = {**STATS_V1, "read": "2026-01-01T00:00:02Z"}, 101.3
    assert feed.row(102.2, host_cpus=2)[0]["cpu_pct"] == 50.0


@pytest.mark.parametrize(("host_config", "cpus"), [
    ({"NanoCpus": 1_500_000_000}, 1.5),
    ({"CpuQuota": 50_000, "CpuPeriod": 100_000}, 0.5),
    ({"CpuQuota": 200_000, "CpuPeriod": 0}, 2.0),  # the period defaults to 100 ms
    ({"CpusetCpus": "0-2,5", "NanoCpus": 3_000_000_000}, 3.0),
    ({"CpusetCpus": "1"}, 1.0),
    ({"NanoCpus": 0, "CpuQuota": -1, "CpusetCpus": ""}, None),
])
def test_the_cpu_limit_comes_from_whichever_limit_the_container_has(host_config: dict, cpus: float | None) -> None:
    row = resource_row("app", STATS_V1, {"HostConfig": host_config}, host_cpus=8)
    assert row["cpu_limit"] == cpus and row["host_cpus"] == 8


# --------------------------------------------------------------------------- app metrics
EXPOSITION = """\
# HELP app_requests_total Requests.
# TYPE app_requests_total counter
app_requests_total{method="GET",code="200"} 12.0
app_requests_created{method="GET",code="200"} 1.7e9
# HELP app_mail_threads Mail threads alive.
# TYPE app_mail_threads gauge
app_mail_threads 7
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le="0.1"} 3
app_latency_seconds_bucket{le="+Inf"} 4
app_latency_seconds_count 4
app_latency_seconds_sum 0.75
# HELP db_pool_in_use Pool.
# TYPE db_pool_in_use gauge
db_pool_in_use{pool="main \\"rw\\""} 3
# HELP app_build_info Build.
# TYPE app_build_info info
app_build_info{version="1"} 1
"""


def test_gauges_counters_and_histogram_count_and_sum_are_recorded() -> None:
    rows = [(r["metric"], r["labels"], r["value"]) for r in metric_rows("app", EXPOSITION)]
    assert rows == [
        ("app_requests_total", 'code="200",method="GET"', 12.0),
        ("app_mail_threads", "", 7.0),
        ("app_latency_seconds_count", "", 4.0),
        ("app_latency_seconds_sum", "", 0.75),
        ("db_pool_in_use", 'pool="main \\"rw\\""', 3.0),
    ]


def test_include_prefixes_limit_the_metrics() -> None:
    rows = metric_rows("app", EXPOSITION, include=["app_mail", "db_"])
    assert [r["metric"] for r in rows] == ["app_mail_threads", "db_pool_in_use"]


def test_metrics_port_must_be_published_and_the_message_says_so() -> None:
    endpoint = MetricsEndpoint(path="/metrics", port=9100)
    with pytest.raises(SamplerUnavailable, match="9100 is not published"):
        metrics_url(endpoint, [8000], {8000: 32768})
    assert metrics_url(MetricsEndpoint(), [8000], {8000: 32768}) == "http://127.0.0.1:32768/metrics"
    sampler = AppMetricsSampler.for_service("app", endpoint, [8000], {8000: 32768}, timeout=0.5)
    with pytest.raises(SamplerUnavailable, match="add it to the service's ports"):
        sampler.sample()
    sampler.close()


# --------------------------------------------------------------------------- database
def test_db_rows_carry_counters_as_read_and_rates_from_consecutive_samples() -> None:
    first = DbReading(10.0, (3, 5, 1, 2, 4.5, 1000, 10, 0))
    second = DbReading(12.0, (2, 6, 0, 0, 0.0, 1100, 14, 1))
    assert db_row("db", first, None) == {
        "service": "db", "sessions_active": 3, "sessions_idle": 5, "sessions_idle_in_tx": 1,
        "sessions_waiting_lock": 2, "longest_tx_s": 4.5, "xact_commit": 1000, "xact_rollback": 10, "deadlocks": 0,
        "commits_per_s": None, "rollbacks_per_s": None}
    row = db_row("db", second, first)
    assert (row["commits_per_s"], row["rollbacks_per_s"], row["deadlocks"]) == (50.0, 2.0, 1)
    restarted = db_row("db", DbReading(13.0, (0, 0, 0, 0, 0, 3, 0, 0)), second)
    assert restarted["commits_per_s"] is None  # counters reset: no negative rate


def test_psql_exec_probe_parses_psql_output_and_reports_its_errors() -> None:
    ok = FakeContainer(exec_output=(b"1|2|0|1|3.250|500|3|0\n", b""))
    sampler = DbSampler.for_service("db", PostgresProbe(password="pw"), ok, {}, timeout=0.8)  # type: ignore[arg-type]
    assert sampler.via == "psql-exec"
    assert sampler.sample()[0]["sessions_waiting_lock"] == 1
    cmd, kwargs = ok.exec_calls[0]
    assert cmd[:3] == ["psql", "-X", "-q"] and kwargs["environment"]["PGPASSWORD"] == "pw"
    broken = FakeContainer(exec_code=2, exec_output=(b"", b'psql: error: role "x" does not exist\n'))
    probe = PsqlExecProbe(broken, 5432, "x", "postgres", None, 0.8)  # type: ignore[arg-type]
    with pytest.raises(SamplerUnavailable, match='role "x" does not exist'):
        probe.query()
    with pytest.raises(ValueError):
        parse_psql_line("ERROR: something\n")


def test_a_published_postgres_port_is_probed_from_the_host() -> None:
    sampler = DbSampler.for_service("db", PostgresProbe(), FakeContainer(), {5432: 40000}, timeout=0.8)  # type: ignore[arg-type]
    assert sampler.via == "psycopg"
    assert sampler.probe.params["port"] == 40000 and sampler.probe.params["host"] == "127.0.0.1"  # type: ignore[attr-defined]


def test_an_unpublished_postgres_port_is_probed_at_the_containers_address_when_the_host_reaches_it() -> None:
    with socket.socket() as listener:  # stands for PostgreSQL on the container's bridge address
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        container = FakeContainer(attrs={"State": {"Pid": 0}, "NetworkSettings": {"Networks": {
            "run-net": {"IPAddress": "127.0.0.1"}}}})
        sampler = DbSampler.for_service("db", PostgresProbe(port=port), container, {}, timeout=0.8)  # type: ignore[arg-type]
    assert sampler.via == "psycopg"  # one session kept for the run, not a psql session per sample
    assert (sampler.probe.params["host"], sampler.probe.params["port"]) == ("127.0.0.1", port)  # type: ignore[attr-defined]


class FakePgConnection:
    """psycopg's Connection as the probe uses it: execute().fetchone(), closed, broken, close()."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.closed = self.broken = False

    def execute(self, query: str) -> FakePgConnection:
        if self.failures:
            error = self.failures.pop(0)
            self.broken = "closed the connection" in str(error)  # a QueryCanceled leaves it good
            raise error
        return self

    def fetchone(self) -> tuple:
        return (1, 2, 0, 0, 0.5, 100, 1, 0)

    def close(self) -> None:
        self.closed = True


def test_the_db_probe_keeps_its_connection_when_a_query_times_out_and_reopens_a_broken_one() -> None:
    from faultdrill.recorder.samplers.database import PsycopgProbe

    failures: list[Exception] = [psycopg.errors.QueryCanceled("canceling statement due to statement timeout")]
    opened: list[FakePgConnection] = []

    def connect(**kwargs: object) -> FakePgConnection:
        if len(opened) >= 1 and not failures_after_break:
            raise psycopg.OperationalError("FATAL: sorry, too many clients already")
        opened.append(FakePgConnection(failures))
        return opened[-1]

    failures_after_break: list[int] = []
    sampler = DbSampler("db", PsycopgProbe("127.0.0.1", 5432, "app", "tickets", None, 0.8, connect=connect), "psycopg")
    sampler.open()  # before the load: the slot is taken while there are free ones
    with pytest.raises(psycopg.errors.QueryCanceled):
        sampler.sample()  # the server is saturated: the query times out ...
    assert sampler.sample()[0]["sessions_active"] == 1  # ... and the next tick reads on the same connection
    assert len(opened) == 1 and not opened[0].closed
    failures.append(psycopg.OperationalError("server closed the connection unexpectedly"))
    failures_after_break.append(1)
    with pytest.raises(psycopg.OperationalError):
        sampler.sample()
    assert opened[0].closed  # a broken connection is thrown away ...
    assert sampler.sample()[0]["sessions_idle"] == 2 and len(opened) == 2  # ... and reopened at the next tick


# --------------------------------------------------------------------------- proxies
PROXIES = {"db": ProxyInfo("db", "0.0.0.0:15432", "db:5432", True,
                           ({"name": "slow", "type": "latency", "stream": "downstream"},)),
           "mail": ProxyInfo("mail", "[::]:15433", "mail:1025", False, ())}

BUILTIN_METRICS = """\
# TYPE faultdrill_proxy_live_sent_bytes_total counter
faultdrill_proxy_live_sent_bytes_total{direction="upstream",listener="0.0.0.0:15432",proxy="db",upstream="db:5432"} 120
faultdrill_proxy_live_sent_bytes_total{direction="downstream",listener="0.0.0.0:15432",proxy="db",upstream="db:5432"} 4000
# TYPE toxiproxy_proxy_sent_bytes_total counter
toxiproxy_proxy_sent_bytes_total{direction="upstream",listener="0.0.0.0:15432",proxy="db",upstream="db:5432"} 1
# TYPE faultdrill_proxy_active_connections gauge
faultdrill_proxy_active_connections{proxy="db"} 3
faultdrill_proxy_active_connections{proxy="mail"} 0
"""


def test_proxy_rows_from_the_api_and_faultdrill_metrics() -> None:
    rows = proxy_rows(PROXIES, parse_proxy_metrics(BUILTIN_METRICS), None)
    assert rows == [
        {"proxy": "db", "enabled": True, "toxics": "slow(latency/downstream)", "bytes_up": 120.0,
         "bytes_down": 4000.0, "connections": 3.0},
        {"proxy": "mail", "enabled": False, "toxics": "", "bytes_up": 0, "bytes_down": 0, "connections": 0.0},
    ]


def test_without_metrics_connections_come_from_the_netns_and_bytes_stay_empty() -> None:
    sockets = [Socket(15432, "172.18.0.3", 1, "ESTABLISHED"), Socket(15432, "172.18.0.3", 2, "ESTABLISHED"),
               Socket(15432, "172.18.0.3", 3, "TIME_WAIT"), Socket(15433, "0.0.0.0", 0, "LISTEN")]
    rows = proxy_rows(PROXIES, None, sockets)
    assert [(r["proxy"], r["bytes_up"], r["bytes_down"], r["connections"]) for r in rows] == [
        ("db", None, None, 2), ("mail", None, None, 0)]


def test_official_toxiproxy_byte_counters_are_used_when_there_are_no_live_ones() -> None:
    text = ('toxiproxy_proxy_sent_bytes_total{direction="downstream",listener="[::]:15432",proxy="db",'
            'upstream="db:5432"} 77\n')
    assert parse_proxy_metrics(text) == {"db": {"bytes_down": 77.0}}



# --------------------------------------------------------------------------- Docker's embedded DNS
def dns_tables() -> str:
    """A container listening on 8000, and Docker's DNS listening on 127.0.0.11:41234 with one TCP client."""
    return HEADER + "".join([
        _line(0, _v4("0.0.0.0", 8000), _v4("0.0.0.0", 0), "0A"),
        _line(1, _v4("127.0.0.11", 41234), _v4("0.0.0.0", 0), "0A"),
        _line(2, _v4("127.0.0.11", 41234), _v4("127.0.0.1", 50000), "01"),
        _line(3, _v4("172.18.0.3", 8000), _v4("172.18.0.1", 50001), "01"),
    ])


def test_dockers_dns_listener_is_not_an_inbound_endpoint_read_from_proc() -> None:
    container = FakeContainer(id="id-web", exec_output=dns_tables().encode())
    sampler = ConnectionsSampler("web", container, peers())  # type: ignore[arg-type]
    rows = {(r["direction"], r["endpoint"], r["state"]): r["count"] for r in sampler.sample()}
    assert rows == {("inbound", "8000", "ESTABLISHED"): 1}  # no "inbound 41234"
    assert listening_ports(parse_proc_net_tcp(dns_tables())) == {8000}


def test_dockers_dns_listener_is_not_an_inbound_endpoint_read_through_sock_diag() -> None:
    data = (_diag_message(socket.AF_INET, 10, 8000, 0, "0.0.0.0", src="0.0.0.0")
            + _diag_message(socket.AF_INET, 10, 41234, 0, "0.0.0.0", src="127.0.0.11")
            + _diag_message(socket.AF_INET, 1, 41234, 50000, "127.0.0.1", src="127.0.0.11")
            + _diag_message(socket.AF_INET6, 1, 8000, 50001, "::ffff:172.18.0.1", src="::ffff:172.18.0.3")
            + struct.pack("=IHHII", 20, 3, 2, 1, 0) + bytes(4))
    sockets: list[Socket] = []
    assert sockdiag.parse_messages(data, sockets) is True
    assert [s.local_ip for s in sockets] == ["0.0.0.0", "127.0.0.11", "127.0.0.11", "172.18.0.3"]
    rows = connection_rows("web", sockets, lambda ip, port: f"{ip}:{port}")
    assert [(r["direction"], r["endpoint"], r["state"], r["count"]) for r in rows] == [
        ("inbound", "8000", "ESTABLISHED", 1)]


def test_a_container_that_is_not_running_has_no_connections_rather_than_no_sample() -> None:
    container = FakeContainer(id="id-app2", attrs={"State": {"Pid": 0, "Running": False, "Status": "created"}})
    sampler = ConnectionsSampler("app2", container, peers(), declared_ports=[8000])  # type: ignore[arg-type]
    assert sampler.sample() == [{"service": "app2", "direction": "inbound", "endpoint": "8000",
                                 "state": "ESTABLISHED", "count": 0}]
    assert container.exec_calls == [] and sampler.reader.via == "not running"
