"""``resources.csv``: CPU, memory, pids, network, restarts and OOM kills per container, from Docker.

Where the engine is local, each tick reads the container's cgroup and network counters from the host
(``cgroups.py``): the files Docker's stats would read for us, without the engine's CPU for a stats
stream per container. Elsewhere (a remote engine, or a host whose cgroups are not where they should
be) a container falls back to Docker's stats:
``docker stats`` without streaming waits for two samples (~1–2 s a call), and Docker's stats
collector publishes once a second anyway. So each such container gets one streaming stats request, read by
its own thread, which keeps the latest sample; ``sample()`` only formats what the feeds hold, so it
never waits. A Docker sample is written once: a tick that finds no newer one than the last row's (same
``read`` time — Docker publishes about once a second, so this happens now and then at 1 s, and on
most ticks below 1 s) leaves the measured cells empty: missing, not a repeated value.

``cpu_pct`` is Docker's own figure (``docker stats``): CPU time used between this sample and the
previous one over the host's CPU time in between, times the number of CPUs (100 = one full core).
``mem_bytes`` is usage minus inactive page cache, as ``docker stats`` shows it, on cgroup v1
(``total_inactive_file``) and v2 (``inactive_file``). Limits come from the container's HostConfig
(empty: no limit); ``cpu_limit`` is the CPUs the container may use (``--cpus``, ``--cpu-quota`` /
``--cpu-period``, ``--cpuset-cpus``: the smallest), ``host_cpus`` the engine host's CPUs (``docker info``),
so a plot can say whose capacity a line is. Restarts, OOM kills and limits come from ``inspect``, refreshed every few seconds
and whenever the stats stream ends (a container that stopped or restarted).

Cells are empty when the value is unavailable (a stopped container's CPU, a missing field).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from docker.models.containers import Container

import docker
from docker import DockerClient
from faultdrill.recorder.samplers.base import PartialSample, first_line
from faultdrill.recorder.samplers.cgroups import CgroupFiles, CgroupUnreadable, reading
from faultdrill.stack.engine import host_reads_ok

COLUMNS = ["service", "cpu_pct", "cpu_limit", "host_cpus", "mem_bytes", "mem_limit_bytes", "pids", "pids_limit",
           "net_rx_bytes", "net_tx_bytes", "restarts", "oom_killed"]
STALE_AFTER_S = 3.0
INSPECT_EVERY_S = 5.0


# --------------------------------------------------------------------------- pure
def cpu_percent(stats: dict[str, Any]) -> float | None:
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    try:
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None  # the first sample of a stream has no previous one
    cpus = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return round(float(cpu_delta) / float(system_delta) * cpus * 100.0, 2)


def memory_bytes(stats: dict[str, Any]) -> int | None:
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None
    detail = mem.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))  # cgroup v1, v2
    return max(0, int(usage) - int(cache or 0))


def cpu_limit(host_config: dict[str, Any]) -> float | None:
    """The CPUs a container may use, from its HostConfig: ``--cpus`` (NanoCpus), ``--cpu-quota`` over
    ``--cpu-period``, ``--cpuset-cpus``; the smallest when several are set, None when none is (pure)."""
    limits: list[float] = []
    if (host_config.get("NanoCpus") or 0) > 0:
        limits.append(host_config["NanoCpus"] / 1e9)
    if (host_config.get("CpuQuota") or 0) > 0:
        limits.append(host_config["CpuQuota"] / (host_config.get("CpuPeriod") or 100_000))
    cpuset = _cpuset_size(host_config.get("CpusetCpus") or "")
    if cpuset:
        limits.append(float(cpuset))
    return round(min(limits), 3) if limits else None


def _cpuset_size(spec: str) -> int:
    """``0-2,5`` -> 4; "" or garbage -> 0."""
    size = 0
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return 0
        size += (int(high) - int(low) + 1) if high else 1
    return size


def resource_row(service: str, stats: dict[str, Any] | None, inspect: dict[str, Any] | None,
                 host_cpus: int | None = None) -> dict[str, object]:
    """One row from the latest stats sample (None when stale, repeated or missing) and inspect attrs (pure)."""
    host = (inspect or {}).get("HostConfig") or {}
    state = (inspect or {}).get("State") or {}
    row: dict[str, object] = {
        "service": service, "cpu_pct": None, "cpu_limit": cpu_limit(host), "host_cpus": host_cpus,
        "mem_bytes": None,
        "mem_limit_bytes": host.get("Memory") or None, "pids": None,
        "pids_limit": host.get("PidsLimit") if (host.get("PidsLimit") or 0) > 0 else None,
        "net_rx_bytes": None, "net_tx_bytes": None,
        "restarts": (inspect or {}).get("RestartCount"), "oom_killed": state.get("OOMKilled"),
    }
    if stats:
        networks = (stats.get("networks") or {}).values()
        row.update(
            cpu_pct=cpu_percent(stats), mem_bytes=memory_bytes(stats),
            pids=(stats.get("pids_stats") or {}).get("current"),
            net_rx_bytes=sum(n.get("rx_bytes", 0) for n in networks) if networks else None,
            net_tx_bytes=sum(n.get("tx_bytes", 0) for n in networks) if networks else None,
        )
    return row


# --------------------------------------------------------------------------- one container's feed
class _StatsFeed:
    def __init__(self, service: str, container_id: str, api: Any, stop: threading.Event) -> None:
        self.service = service
        self.id = container_id
        self.api = api
        self.stop = stop
        self.lock = threading.Lock()
        self.stats: dict[str, Any] | None = None
        self.stats_at = float("-inf")
        self.inspect: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.written_read: str | None = None  # the ``read`` time of the Docker sample last put in a row
        self._next_inspect = 0.0
        self.thread = threading.Thread(target=self._run, name=f"stats-{service}", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._inspect()
                for stats in self.api.stats(self.id, stream=True, decode=True):
                    with self.lock:
                        self.stats, self.stats_at, self.error = stats, time.monotonic(), None
                    if self.stop.is_set():
                        return
                    if time.monotonic() >= self._next_inspect:
                        self._inspect()
                self._inspect()  # the stream ended: stopped, restarted or OOM-killed
            except Exception as exc:
                if self.stop.is_set():
                    return
                with self.lock:
                    self.error = exc
            self.stop.wait(1.0)

    def _inspect(self) -> None:
        attrs = self.api.inspect_container(self.id)
        self._next_inspect = time.monotonic() + INSPECT_EVERY_S
        with self.lock:
            self.inspect = attrs

    def row(self, now: float, host_cpus: int | None = None) -> tuple[dict[str, object], BaseException | None]:
        """This tick's row: a Docker sample older than ``STALE_AFTER_S``, or one already written in an
        earlier row (same ``read`` time: Docker had no newer one), gives empty cells, not a repeat."""
        with self.lock:
            fresh = self.stats if now - self.stats_at <= STALE_AFTER_S else None
            read = (fresh or {}).get("read")
            if read and read == self.written_read:
                fresh = None
            elif fresh is not None:
                self.written_read = read
            return resource_row(self.service, fresh, self.inspect, host_cpus), self.error


# --------------------------------------------------------------------------- one container, read from the host
class _HostFeed:
    """One container's counters read from the host at each tick; ``inspect`` every few seconds, and
    again when the main process is gone (stopped or restarted: a new pid, a new cgroup)."""

    def __init__(self, service: str, container_id: str, api: Any) -> None:
        self.service = service
        self.id = container_id
        self.api = api
        self.inspect: dict[str, Any] | None = None
        self._files: CgroupFiles | None = None
        self._previous: dict[str, Any] | None = None
        self._next_inspect = 0.0

    @classmethod
    def open(cls, service: str, container_id: str, api: Any) -> _HostFeed | None:
        """A feed, primed (the first row has a CPU figure), or None where the host cannot read it."""
        feed = cls(service, container_id, api)
        try:
            feed._refresh()
            if feed._files is None:
                return None
            feed._previous = reading(feed._files, None)
        except (CgroupUnreadable, docker.errors.DockerException):
            return None
        return feed

    def _refresh(self) -> None:
        attrs = self.api.inspect_container(self.id)
        self.inspect = attrs
        self._next_inspect = time.monotonic() + INSPECT_EVERY_S
        pid = int((attrs.get("State") or {}).get("Pid") or 0)
        if not pid:
            self._files, self._previous = None, None
        elif self._files is None or self._files.pid != pid:
            self._files, self._previous = CgroupFiles.of(pid), None

    def _read(self) -> dict[str, Any] | None:
        if self._files is None:
            return None
        try:
            return reading(self._files, self._previous)
        except CgroupUnreadable:
            self._refresh()  # the main process is gone: look again
            return reading(self._files, None) if self._files is not None else None

    def row(self, now: float, host_cpus: int | None = None) -> tuple[dict[str, object], BaseException | None]:
        error: BaseException | None = None
        stats: dict[str, Any] | None = None
        try:
            if now >= self._next_inspect:
                self._refresh()
            stats = self._read()
        except (CgroupUnreadable, docker.errors.DockerException) as exc:
            error = exc
        self._previous = stats
        return resource_row(self.service, stats, self.inspect, host_cpus), error


# --------------------------------------------------------------------------- the sampler
class ResourcesSampler:
    name = "resources"
    columns = COLUMNS
    label = "resources"

    def __init__(self, containers: dict[str, Container], docker_client: DockerClient) -> None:
        self._stop = threading.Event()
        local = host_reads_ok(docker_client)
        hosted = {name: _HostFeed.open(name, str(c.id), docker_client.api) if local else None
                  for name, c in containers.items()}
        streamed = [name for name, feed in hosted.items() if feed is None]
        self._client, self._own_client = (_stats_client(docker_client, pool=len(streamed) + 4) if streamed
                                          else (docker_client, False))
        self.host_cpus = _engine_cpus(self._client)
        self._streams = [_StatsFeed(name, str(containers[name].id), self._client.api, self._stop)
                         for name in streamed]
        self._feeds: list[_HostFeed | _StatsFeed] = [hosted[name] or next(f for f in self._streams if f.service == name)
                                                     for name in containers]
        #: How each container is read: ``host`` (cgroup files) or ``docker stats`` (a stream).
        self.sources = {name: "host" if hosted[name] else "docker stats" for name in containers}
        for feed in self._streams:
            feed.thread.start()

    def sample(self) -> list[dict[str, object]]:
        now = time.monotonic()
        rows, problems = [], []
        for feed in self._feeds:
            row, error = feed.row(now, self.host_cpus)
            rows.append(row)
            if error is not None:
                problems.append(f"{feed.service}: {type(error).__name__}: {first_line(error)}")
        if problems:
            raise PartialSample(rows, "; ".join(problems))
        return rows

    def close(self) -> None:
        self._stop.set()
        for feed in self._streams:
            feed.thread.join(timeout=2.5)  # a stream yields once a second, then sees the stop flag
        if self._own_client:
            self._client.close()


def _engine_cpus(client: DockerClient) -> int | None:
    """CPUs of the Docker engine's host (``docker info`` NCPU): what ``cpu_pct`` 100 × n is out of."""
    try:
        return int(client.info().get("NCPU") or 0) or None
    except (docker.errors.DockerException, ValueError, TypeError):
        return None


def _stats_client(shared: DockerClient, pool: int) -> tuple[DockerClient, bool]:
    """A client of the same engine with a pool big enough for one long-lived stream per container.

    The SDK's default pool (10) would otherwise be held by the streams, and every other request would
    open and discard extra connections (with a urllib3 warning each time).
    """
    try:
        own = docker.from_env(max_pool_size=max(pool, 10), timeout=30)
    except docker.errors.DockerException:
        return shared, False
    if own.api.base_url != shared.api.base_url:
        own.close()
        return shared, False
    return own, True
