"""Reading a container's counters from the host (``recorder/samplers/cgroups.py``), on fake trees
laid out as cgroup v1 (cgroupfs driver) and v2 (unified) hosts have them."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultdrill.recorder.samplers.cgroups import (
    CgroupFiles,
    CgroupUnreadable,
    net_dev_totals,
    parse_cgroup_file,
    reading,
)
from faultdrill.recorder.samplers.resources import cpu_percent, memory_bytes

ID = "7df34076d311"
NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    9999      10    0    0    0     0          0         0     9999      10    0    0    0     0       0          0
  eth0:   1200      12    0    0    0     0          0         0      3400      20    0    0    0     0       0          0
  eth1:     30       1    0    0    0     0          0         0        40       1    0    0    0     0       0          0
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _proc(tmp_path: Path, cgroup_text: str) -> Path:
    proc = tmp_path / "proc"
    _write(proc / "42" / "cgroup", cgroup_text)
    _write(proc / "42" / "net" / "dev", NET_DEV)
    return proc


def _v1(tmp_path: Path, cpu_ns: int) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    _write(root / "cpuacct" / "docker" / ID / "cpuacct.usage", f"{cpu_ns}\n")
    _write(root / "memory" / "docker" / ID / "memory.usage_in_bytes", "50000000\n")
    _write(root / "memory" / "docker" / ID / "memory.stat", "cache 9\ntotal_inactive_file 10000000\n")
    _write(root / "pids" / "docker" / ID / "pids.current", "7\n")
    text = "".join(f"{n}:{c}:/docker/{ID}\n" for n, c in
                   [(9, "name=systemd"), (8, "pids"), (4, "memory"), (2, "cpu,cpuacct")]) + f"0::/docker/{ID}\n"
    return root, _proc(tmp_path, text)


def _v2(tmp_path: Path, usage_usec: int) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    group = root / "system.slice" / f"docker-{ID}.scope"
    _write(group / "cpu.stat", f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 2\n")
    _write(group / "memory.current", "50000000\n")
    _write(group / "memory.stat", "anon 1\ninactive_file 20000000\n")
    _write(group / "pids.current", "3\n")
    return root, _proc(tmp_path, f"0::/system.slice/docker-{ID}.scope\n")


def test_the_cgroup_file_names_each_controllers_path() -> None:
    paths = parse_cgroup_file(f"2:cpu,cpuacct:/docker/{ID}\n4:memory:/docker/{ID}\n0::/\n")
    assert paths == {"cpu": f"/docker/{ID}", "cpuacct": f"/docker/{ID}", "memory": f"/docker/{ID}", "": "/"}


def test_network_counters_leave_loopback_out_as_docker_does() -> None:
    assert net_dev_totals(NET_DEV) == {"eth0": {"rx_bytes": 1200, "tx_bytes": 3400},
                                       "eth1": {"rx_bytes": 30, "tx_bytes": 40}}


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_a_reading_means_what_docker_stats_means(tmp_path: Path, layout: str) -> None:
    if layout == "v1":
        root, proc = _v1(tmp_path, cpu_ns=1_000_000_000)
        files = CgroupFiles.of(42, root, proc)
        first = reading(files, None)
        _write(root / "cpuacct" / "docker" / ID / "cpuacct.usage", "1500000000\n")  # +0.5 s of CPU
        inactive, pids = 10_000_000, 7
    else:
        root, proc = _v2(tmp_path, usage_usec=1_000_000)
        files = CgroupFiles.of(42, root, proc)
        first = reading(files, None)
        _write(root / "system.slice" / f"docker-{ID}.scope" / "cpu.stat", "usage_usec 1500000\n")
        inactive, pids = 20_000_000, 3
    assert cpu_percent(first) is None  # nothing to compare with yet, as Docker's first sample
    second = reading(files, first)
    wall_s = (int(second["read"]) - int(first["read"])) / 1e9
    assert cpu_percent(second) == pytest.approx(0.5 / wall_s * 100, rel=0.01)  # 100 = one full core
    assert memory_bytes(second) == 50_000_000 - inactive
    assert second["pids_stats"] == {"current": pids}
    assert sum(n["rx_bytes"] for n in second["networks"].values()) == 1230


def test_a_process_that_is_gone_is_unreadable_not_zero(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, usage_usec=1)
    files = CgroupFiles.of(42, root, proc)
    (root / "system.slice" / f"docker-{ID}.scope" / "memory.current").unlink()
    with pytest.raises(CgroupUnreadable):
        reading(files, None)
    with pytest.raises(CgroupUnreadable):
        CgroupFiles.of(43, root, proc)
