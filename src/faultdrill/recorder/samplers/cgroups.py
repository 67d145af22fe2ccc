"""A container's CPU, memory, pids and network counters read from the host, as Docker's stats has them.

Docker's stats stream makes the engine read these same files once a second for every container and
encode them as JSON for us: engine CPU spent on the recorder's behalf. Where the engine is local
(``stack.engine.host_reads_ok``) the recorder reads them itself, from the container's main process:
``/proc/<pid>/cgroup`` names its cgroup (v2 unified, or v1 per controller), whose files hold CPU time
(``cpu.stat`` / ``cpuacct.usage``), memory (``memory.current`` / ``memory.usage_in_bytes`` and the
inactive page cache from ``memory.stat``) and pids; ``/proc/<pid>/net/dev`` the container's network
namespace's interface counters (``lo`` left out, as Docker does). ``reading`` gives them in the shape
of a Docker stats sample, so the same pure code turns both into a row: the figures mean the same.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CgroupFiles", "CgroupUnreadable", "net_dev_totals", "parse_cgroup_file", "reading"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")


class CgroupUnreadable(OSError):
    """The container's cgroup or /proc entry is gone or cannot be read (stopped, restarted, not local)."""


# --------------------------------------------------------------------------- pure
def parse_cgroup_file(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` -> {controller: path}; the v2 unified hierarchy is under ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hierarchy, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (``cpu.stat``, ``memory.stat``) -> {key: value}."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def net_dev_totals(text: str) -> dict[str, dict[str, int]]:
    """``/proc/net/dev`` -> {interface: {rx_bytes, tx_bytes}}, loopback left out."""
    interfaces: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        interfaces[name.strip()] = {"rx_bytes": int(fields[0]), "tx_bytes": int(fields[8])}
    return interfaces


# --------------------------------------------------------------------------- files
@dataclass(frozen=True)
class CgroupFiles:
    """Where one container's counters are (found once per main process)."""

    pid: int
    cpu_usec: Path | None  # v2: cpu.stat's usage_usec
    cpu_ns: Path | None  # v1: cpuacct.usage
    memory_usage: Path
    memory_stat: Path
    pids: Path | None
    inactive_key: str  # memory.stat's inactive page cache: v2 inactive_file, v1 total_inactive_file
    net_dev: Path

    @classmethod
    def of(cls, pid: int, root: Path = CGROUP_ROOT, proc: Path = PROC) -> CgroupFiles:
        try:
            paths = parse_cgroup_file((proc / str(pid) / "cgroup").read_text())
        except OSError as exc:
            raise CgroupUnreadable(f"{proc}/{pid}/cgroup: {exc}") from exc
        net_dev = proc / str(pid) / "net" / "dev"
        v1 = {c: p for c, p in paths.items() if c}
        if "memory" in v1 and ("cpuacct" in v1 or "cpu" in v1):
            cpu = root / "cpuacct" / v1.get("cpuacct", v1.get("cpu", "")).lstrip("/")
            memory = root / "memory" / v1["memory"].lstrip("/")
            files = cls(pid, None, cpu / "cpuacct.usage", memory / "memory.usage_in_bytes",
                        memory / "memory.stat", root / "pids" / v1["pids"].lstrip("/") / "pids.current"
                        if "pids" in v1 else None, "total_inactive_file", net_dev)
        elif "" in paths:
            group = root / paths[""].lstrip("/")
            files = cls(pid, group / "cpu.stat", None, group / "memory.current", group / "memory.stat",
                        group / "pids.current", "inactive_file", net_dev)
        else:
            raise CgroupUnreadable(f"/proc/{pid}/cgroup names no memory and CPU cgroup")
        files.read_cpu_ns()  # fails now, not at the first sample, when the hierarchy is elsewhere
        return files

    def read_cpu_ns(self) -> int:
        if self.cpu_ns is not None:
            return int(_read(self.cpu_ns))
        assert self.cpu_usec is not None
        return parse_flat_keyed(_read(self.cpu_usec))["usage_usec"] * 1000


def reading(files: CgroupFiles, previous: dict[str, Any] | None) -> dict[str, Any]:
    """A Docker-stats-shaped sample (``previous``: the last one, for the CPU delta). Raises CgroupUnreadable."""
    cpus = os.sysconf("SC_NPROCESSORS_ONLN") or 1
    try:
        cpu_ns = files.read_cpu_ns()
        usage = int(_read(files.memory_usage))
        memory_stat = parse_flat_keyed(_read(files.memory_stat))
        pids = int(_read(files.pids)) if files.pids is not None else None
        networks = net_dev_totals(_read(files.net_dev))
    except (OSError, ValueError, KeyError) as exc:
        raise CgroupUnreadable(f"container process {files.pid}: {exc}") from exc
    now_ns = time.monotonic_ns()
    sample: dict[str, Any] = {
        "read": str(now_ns),
        # "system" CPU as Docker counts it: every CPU's time, idle included, i.e. wall time x CPUs
        "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}, "system_cpu_usage": now_ns * cpus, "online_cpus": cpus},
        "precpu_stats": (previous or {}).get("cpu_stats") or {},
        "memory_stats": {"usage": usage, "stats": {files.inactive_key: memory_stat.get(files.inactive_key, 0)}},
        "pids_stats": {"current": pids} if pids is not None else {},
        "networks": networks,
    }
    return sample


def _read(path: Path) -> str:
    with open(path, encoding="ascii") as fh:
        return fh.read()
