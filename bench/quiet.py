"""The host state a benchmark starts from: no pile of TIME_WAIT sockets left by earlier work.

Every TCP connection closed with a FIN leaves a TIME_WAIT socket (and a connection-tracking entry
where Docker's firewall rules load it) for up to two minutes. Runs that started on 13-31k of them,
left by earlier benchmarks, were among the slow ones (proxied ~50k vs ~67k round trips/s); slow
spells came without them too, so this removes one cause of drift, not every one. ``run_all.py``
settles before each benchmark and ``toxiproxy_bench.py`` before its rounds.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["settle", "time_wait_sockets"]


def time_wait_sockets() -> int:
    """This host's TCP sockets in TIME_WAIT (``/proc/net/sockstat``), shown with every measurement."""
    try:
        fields = Path("/proc/net/sockstat").read_text().split("TCP:", 1)[1].split("\n", 1)[0].split()
        return int(fields[fields.index("tw") + 1])
    except (OSError, IndexError, ValueError):
        return -1


def settle(limit: int = 2000, within: float = 130.0) -> None:
    """Let TIME_WAIT sockets that earlier work left (they last 60–120 s) expire before measuring."""
    left = time_wait_sockets()
    if left <= limit:
        return
    print(f"waiting up to {within:.0f} s for {left:,} TIME_WAIT sockets left by earlier work to expire", flush=True)
    deadline = time.monotonic() + within
    while left > limit and time.monotonic() < deadline:
        time.sleep(5)
        left = time_wait_sockets()
    print(f"  {left:,} left", flush=True)
