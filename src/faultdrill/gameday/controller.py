"""The game-day controller: the drill's live state, the facilitator's commands, annotations, alerts."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from faultdrill.analysis.live import BreachTracker
from faultdrill.drill import LiveDrill
from faultdrill.gameday.alerts import AlertSender
from faultdrill.gameday.control import Command, Commands, ControlServer
from faultdrill.histograms import LoadSecond, percentile_ms

HISTORY_S = 300


@dataclass
class SecondView:
    t: int
    users: int
    ok: int
    failed: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass
class LiveState:
    """What the live view and ``/state`` show; written by the drill's threads under a lock."""

    seconds: deque[SecondView] = field(default_factory=lambda: deque(maxlen=HISTORY_S))
    samples: dict[str, dict[str, float | None]] = field(default_factory=dict)  # service -> series -> latest
    annotations: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


class GameDayController:
    def __init__(self, with_endpoint: bool = True) -> None:
        self.with_endpoint = with_endpoint
        self.commands = Commands()
        self.state = LiveState()
        self.lock = threading.Lock()
        self.live: LiveDrill | None = None
        self.server: ControlServer | None = None
        self.tracker: BreachTracker | None = None
        self.alerts: AlertSender | None = None

    # ------------------------------------------------------------------ Controller protocol
    def attach(self, live: LiveDrill) -> None:
        self.live = live
        scenario = live.scenario
        self.tracker = BreachTracker.from_checks(scenario.checks, scenario.alerts.checks, scenario.record.interval)
        self.alerts = AlertSender(scenario.alerts, lambda kind, data: live.events.emit(kind, **data))
        if self.with_endpoint:
            self.server = ControlServer(self.commands, self.snapshot, live.run_dir.path).__enter__()
            live.events.emit("gameday.control", url=self.server.url)

    def tick(self) -> None:
        self.commands.run_pending(self.execute)

    def on_second(self, second: LoadSecond) -> None:
        total = second.total()
        ok = total.ok_hist  # latency of the successful requests: a fast 500 is not a fast answer
        view = SecondView(second.t, second.users, total.count - total.failures, total.failures,
                          percentile_ms(ok, 50), percentile_ms(ok, 95), percentile_ms(ok, 99))
        with self.lock:
            self.state.seconds.append(view)
            transitions = self.tracker.observe_load(second) if self.tracker else []
        self._transitions(transitions)

    def on_samples(self, t: float, points: dict[str, float | None]) -> None:
        with self.lock:
            for metric, value in points.items():
                source, _, rest = metric.partition(".")
                owner, _, field_ = rest.partition(".")
                self.state.samples.setdefault(owner, {})[f"{source}.{field_}" if field_ else source] = value
            transitions = []
            if self.tracker is not None:
                for metric, value in points.items():
                    transitions += self.tracker.observe_sample(metric, t, value)
        self._transitions(transitions)

    def close(self) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server = None
        if self.alerts is not None:
            self.alerts.close()

    # ------------------------------------------------------------------ checks and alerts
    def _transitions(self, transitions: list) -> None:  # type: ignore[type-arg]
        assert self.live is not None
        for tr in transitions:
            kind = "check.breached" if tr.state == "breached" else "check.recovered"
            event = self.live.events.emit(kind, check=tr.rule, metric=tr.metric, since=tr.since, detail=tr.detail)
            if tr.state == "breached" and self.alerts is not None and self.alerts.enabled:
                body = {"run_id": self.live.run_dir.run_id, "check": tr.rule, "metric": tr.metric,
                        "detail": tr.detail, "t": event["t"], "wall": event["wall"]}
                self.live.events.emit("alert.fired", check=tr.rule, detail=tr.detail)
                with self.lock:
                    self.state.alerts.append(body)
                self.alerts.send(body)

    # ------------------------------------------------------------------ commands (drill thread)
    def execute(self, command: Command) -> dict[str, Any]:
        assert self.live is not None
        live = self.live
        if command.verb == "inject":
            live.engine.inject(self._fault(command.fault))
            return {"ok": True, "fault": command.fault, "t": round(live.clock.now(), 3)}
        if command.verb == "heal":
            live.engine.heal(self._fault(command.fault))
            return {"ok": True, "fault": command.fault, "t": round(live.clock.now(), 3)}
        if command.verb == "reveal":
            with self.lock:
                name = live.engine.reveal(self._fault(command.fault))
            live.events.emit("fault.revealed", fault=name)
            return {"ok": True, "fault": name}
        if command.verb == "annotate":
            event = live.events.emit("annotation", annotation=command.kind, text=command.text, source=command.source)
            with self.lock:
                self.state.annotations.append(event)
            return {"ok": True, "t": event["t"]}
        if command.verb == "stop":
            live.request_stop(command.text or "stopped by the facilitator")
            return {"ok": True}
        raise ValueError(f"unknown command {command.verb!r}")

    def _fault(self, name: str | None) -> str:
        assert self.live is not None
        engine = self.live.engine
        names = [item.fault.name for item in engine.scheduled]
        if name in names:
            return name
        if name is not None and name.isdigit() and 1 <= int(name) <= len(names):
            return names[int(name) - 1]
        shown = ", ".join(f"{i} {engine.shown_name(item)}" for i, item in enumerate(engine.scheduled, 1))
        raise ValueError(f"no fault named {name!r}; faults (name or number): {shown}")

    # ------------------------------------------------------------------ what people see
    def snapshot(self) -> dict[str, Any]:
        """Everything the live view shows, as JSON (also ``GET /state``). Hidden faults stay hidden."""
        live = self.live
        if live is None:
            return {"status": "starting"}
        with self.lock:
            faults = []
            for i, item in enumerate(live.engine.scheduled, 1):
                faults.append({"n": i, "name": live.engine.shown_name(item),
                               "kind": "?" if live.engine.is_hidden(item) else item.fault.kind,
                               "manual": item.fault.manual, "active": item.active,
                               "started_at": item.started_at, "stopped_at": item.stopped_at})
            return {
                "run_id": live.run_dir.run_id,
                "t": round(live.clock.now(), 2),
                "duration": live.duration,
                "seconds": [vars(s) for s in list(self.state.seconds)[-60:]],
                "samples": {k: dict(v) for k, v in self.state.samples.items()},
                "faults": faults,
                "breached": [{"check": r.name, "metric": r.metric, "since": r.breach_start, "value": r.last_value}
                             for r in (self.tracker.breached() if self.tracker else [])],
                "annotations": list(self.state.annotations[-20:]),
                "alerts": list(self.state.alerts[-20:]),
            }
