"""The console's live stream: one frame per tick of the drill, kept in an append-only log per role.

The drill's own threads only hand over what they already have (a load second, a sampler tick) and
return; a feed thread turns it into frames — chart points from the same chart model the report
draws (``report/story.py``), the services' latest numbers, checks breached, the timeline, the fault
list — once per role, redacted for responders (``redact.py``), serialised once. Viewers read the log
at their own pace: a slow one falls behind (or is dropped by its socket timeout), the drill never
waits for it. A viewer that joins late, or reconnects with ``Last-Event-ID``, reads every frame after
the one it has: the whole run so far, then live.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultdrill.console.access import Role
from faultdrill.console.redact import FaultInfo, events_for, fault_rows, scrub
from faultdrill.histograms import LoadSecond
from faultdrill.report.chart_model import GAP_STEPS, is_log_scale
from faultdrill.report.data import ConnectionRow, MetricRow, ResourceRow, RunData
from faultdrill.report.interactive import chart_json
from faultdrill.report.story import golden_charts

FRAME_EVERY_S = 1.0  # a frame at least this often (the clock and countdowns move even without load)
RESOURCE_COLUMNS = ("cpu_pct", "mem_bytes", "mem_limit_bytes", "pids", "pids_limit", "restarts", "oom_killed",
                    "cpu_limit", "host_cpus")


class FrameLog:
    """Append-only frames, one list per role, each already serialised; readers wait on a condition."""

    def __init__(self) -> None:
        self._frames: dict[Role, list[bytes]] = {role: [] for role in Role}
        self._cond = threading.Condition()
        self.closed = False

    def append(self, by_role: dict[Role, bytes]) -> int:
        with self._cond:
            for role in Role:
                self._frames[role].append(by_role[role])
            self._cond.notify_all()
            return len(self._frames[Role.FACILITATOR])

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames[Role.FACILITATOR])

    def since(self, role: Role, after: int, timeout: float) -> tuple[list[tuple[int, bytes]], bool]:
        """Frames with an id above ``after`` (waiting up to ``timeout`` for one), and whether the log is closed."""
        with self._cond:
            frames = self._frames[role]
            if len(frames) <= after and not self.closed:
                self._cond.wait(timeout)
            start = max(after, 0)
            return [(i + 1, frames[i]) for i in range(start, len(frames))], self.closed


def rows_from_points(t: float, points: dict[str, float | None]) -> tuple[list[ResourceRow], list[ConnectionRow],
                                                                          list[MetricRow]]:
    """One sampler tick's points (``recorder/points.py`` names) back into the report's typed rows."""
    resources: dict[str, dict[str, float | None]] = {}
    connections: list[ConnectionRow] = []
    metrics: list[MetricRow] = []
    for name, value in points.items():
        parts = name.split(".")
        if parts[0] == "resources" and len(parts) == 3:
            resources.setdefault(parts[1], {})[parts[2]] = value
        elif parts[0] == "connections" and len(parts) == 4 and value is not None:
            connections.append(ConnectionRow(t, parts[1], parts[2], "", parts[3], value))
        elif parts[0] == "app" and len(parts) >= 3 and value is not None:
            metrics.append(MetricRow(t, parts[1], ".".join(parts[2:]), "", value))
    rows = [ResourceRow(t=t, service=service, **{c: cols.get(c) for c in RESOURCE_COLUMNS})
            for service, cols in resources.items()]
    return rows, connections, metrics


class LiveCharts:
    """The story figure's charts, a few new points at a time: each call gives only what is new."""

    def __init__(self, run_id: str, run_info: dict[str, Any], interval: float) -> None:
        self.run_id, self.run_info, self.interval = run_id, run_info, interval
        self._last_x: dict[tuple[str, str], float] = {}
        self._latency: list[float] = []

    def delta(self, seconds: Sequence[LoadSecond], samples: Sequence[tuple[float, dict[str, float | None]]]
              ) -> list[dict[str, Any]]:
        data = RunData(self.run_id, seconds=list(seconds), run_info=self.run_info)
        for t, points in samples:
            resources, connections, metrics = rows_from_points(t, points)
            data.resources += resources
            data.connections += connections
            data.app_metrics += metrics
        out = []
        for chart in golden_charts(data, self.interval):
            step = self.interval if chart.key == "story-saturation" else 1.0
            as_json = chart_json(chart)
            for line in as_json["lines"]:
                key = (chart.key, line["label"])
                last = self._last_x.get(key)
                if last is not None and line["xs"] and line["xs"][0] - last > GAP_STEPS * step:
                    line["xs"].insert(0, (last + line["xs"][0]) / 2)  # nothing known in between: a gap
                    line["ys"].insert(0, None)
                if line["xs"]:
                    self._last_x[key] = line["xs"][-1]
            if chart.key == "story-latency":
                self._latency += [v for line in chart.lines for v in line.values()]
                as_json["log"] = is_log_scale(self._latency)
            if as_json["lines"]:
                out.append(as_json)
        return out


class EventTail:
    """New lines of ``events.jsonl`` since the last call (a line still being written waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


@dataclass
class LiveStatus:
    """What the controller knows right now (read on the feed thread)."""

    clock: float
    duration: float
    paused: bool
    status: str  # running | ended
    faults: list[FaultInfo]
    services: dict[str, dict[str, float | None]]
    breached: list[dict[str, Any]]
    header: dict[str, Any] = field(default_factory=dict)


class ConsoleFeed:
    """The feed thread: drains what the drill handed over, appends one frame per role."""

    def __init__(self, status: Callable[[], LiveStatus], events: Path, charts: LiveCharts,
                 on_error: Callable[[str], object] = lambda message: None) -> None:
        """``on_error``: told the first time a frame cannot be built (the drill puts it on the timeline)."""
        self.status, self.charts, self.on_error = status, charts, on_error
        self.log = FrameLog()
        self._tail = EventTail(events)
        self._lock = threading.Lock()
        self._seconds: list[LoadSecond] = []
        self._samples: list[tuple[float, dict[str, float | None]]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)
        self.last_second = -1
        self.errors: list[str] = []
        self._events: list[dict[str, Any]] = []  # read from the file, not yet in a frame

    # called from the drill's threads: hand over and return
    def add_second(self, second: LoadSecond) -> None:
        with self._lock:
            self._seconds.append(second)
        self._wake.set()

    def add_samples(self, t: float, points: dict[str, float | None]) -> None:
        with self._lock:
            self._samples.append((t, dict(points)))

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """One last frame (status ``ended``), then the log closes and every stream ends."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.log.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FRAME_EVERY_S)
            self._wake.clear()
            if self._stop.is_set():
                break
            self._safe_frame()
        self._safe_frame(ended=True)

    def _safe_frame(self, ended: bool = False) -> None:
        """A frame the feed cannot build is the viewers' loss, never the drill's: said on the timeline the
        first time, and the next tick retries with the same seconds and events."""
        try:
            self.frame(ended)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            if len(self.errors) == 1:
                with contextlib.suppress(Exception):  # the drill's log may be closing: the feed goes on
                    self.on_error(f"the web console could not build its frame ({self.errors[0]}); viewers' "
                                  "curves stop here until it can")

    def frame(self, ended: bool = False) -> int:
        with self._lock:
            seconds, self._seconds = self._seconds, []
            samples, self._samples = self._samples, []
        try:
            return self._frame(seconds, samples, ended)
        except Exception:
            with self._lock:  # kept for the retry: nothing a viewer should see is dropped
                self._seconds[:0] = seconds
                self._samples[:0] = samples
            raise

    def _frame(self, seconds: list[LoadSecond], samples: list[tuple[float, dict[str, float | None]]],
               ended: bool) -> int:
        status = self.status()
        if ended:
            status.status = "ended"
        if seconds:
            self.last_second = max(self.last_second, *(s.t for s in seconds))
        base = {"t": self.last_second, "seconds": [s.t for s in seconds], "clock": round(status.clock, 2),
                "duration": status.duration, "paused": status.paused, "status": status.status,
                "services": status.services, "breached": status.breached, "charts": self.charts.delta(seconds, samples),
                **status.header}
        self._events += self._tail.read()
        events = self._events
        by_role = {}
        for role in Role:
            frame = {**base, "faults": fault_rows(status.faults, role, status.clock, status.paused),
                     "events": events_for(events, role, status.faults)}
            text = json.dumps(frame, separators=(",", ":"), default=str, allow_nan=False)
            if role is Role.RESPONDER:
                text = scrub(text, status.faults)
            by_role[role] = text.encode()
        self._events = []
        return self.log.append(by_role)
