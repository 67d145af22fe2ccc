"""The run's single clock: monotonic seconds since the drill started, with wall time beside it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass(frozen=True)
class RunClock:
    t0: float = field(default_factory=time.monotonic)
    wall0: float = field(default_factory=time.time)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def wall(self, t: float) -> str:
        return datetime.fromtimestamp(self.wall0 + t, tz=timezone.utc).isoformat(timespec="milliseconds")
