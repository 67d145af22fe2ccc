"""The web console of one game day: tokens, feed thread and server, hung on the game day's controller.

The facilitator's and responders' links are printed once, on the terminal that started the game
day, and written nowhere else. Commands from the page go into the controller's queue, the same one
the terminal's keys and ``faultdrill inject`` use, and run on the drill's own thread.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faultdrill.console.access import DEFAULT_HOST, Access, Role, host_names
from faultdrill.console.feed import ConsoleFeed, LiveCharts, LiveStatus
from faultdrill.console.redact import FaultInfo, scrub, unhideable
from faultdrill.console.server import ConsoleServer
from faultdrill.errors import UsageError
from faultdrill.report.data import read_json_file
from faultdrill.scenario.model import Scenario

if TYPE_CHECKING:
    from faultdrill.drill import LiveDrill
    from faultdrill.faults.engine import ScheduledFault
    from faultdrill.gameday.controller import GameDayController

STATIC = Path(__file__).parent / "static"
ASSETS = Path(__file__).parent.parent / "report" / "assets"
SERVICE_FIELDS = {"connections": "connections", "resources.pids": "pids", "resources.pids_limit": "pids_limit",
                  "resources.cpu_pct": "cpu_pct", "resources.mem_bytes": "mem_bytes"}


@dataclass(frozen=True)
class ConsoleSettings:
    address: str = DEFAULT_HOST
    port: int = 0


def check_listen(settings: ConsoleSettings) -> None:
    """Before anything starts: can the console listen there? (A clear error now, not after the stack is up.)"""
    family = socket.AF_INET6 if ":" in settings.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.address, settings.port))
        except OSError as exc:
            raise UsageError(f"--listen {settings.address}:{settings.port}: the web console cannot listen there "
                             f"({exc.strerror or exc})",
                             hint="pick another port (0 picks a free one), or an address of this machine") from None


def check_hideable(scenario: Scenario, source: str) -> None:
    """Before anything starts: every hidden fault can be hidden from the responders' console."""
    faults = scenario.faults
    problems = unhideable([f.name for f in faults], [f.hidden for f in faults],
                          [*scenario.stack.services, *scenario.proxies])
    if problems:
        raise UsageError(f"{source}: {problems[0]}", hint="or run without the web console (--no-console)")


@lru_cache(maxsize=1)
def page() -> bytes:
    """The console page: one file, its scripts and styles inline (uPlot and the report's chart script
    included), so it fetches nothing but the console's own API and works offline."""
    html = (STATIC / "console.html").read_text(encoding="utf-8")
    parts = {
        "/*UPLOT_CSS*/": (ASSETS / "uPlot.min.css").read_text(encoding="utf-8"),
        "/*CHARTS_CSS*/": (ASSETS / "charts.css").read_text(encoding="utf-8"),
        "/*CONSOLE_CSS*/": (STATIC / "console.css").read_text(encoding="utf-8"),
        "/*UPLOT_JS*/": (ASSETS / "uPlot.iife.min.js").read_text(encoding="utf-8"),
        "/*CHARTS_JS*/": (ASSETS / "charts.js").read_text(encoding="utf-8"),
        "/*CONSOLE_JS*/": (STATIC / "console.js").read_text(encoding="utf-8"),
    }
    for marker, text in parts.items():
        html = html.replace(marker, text.replace("</script", "<\\/script"))
    return html.encode()


def _target(item: ScheduledFault) -> str:
    described = item.action.describe()
    return str(described.get("proxy") or described.get("name") or described.get("type") or "")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


class WebConsole:
    def __init__(self, settings: ConsoleSettings, controller: GameDayController,
                 announce: Callable[[str], None]) -> None:
        self.settings, self.controller, self.announce = settings, controller, announce
        self.feed: ConsoleFeed | None = None
        self.server: ConsoleServer | None = None
        self.access: Access | None = None
        self.live: LiveDrill | None = None

    def start(self, live: LiveDrill) -> None:
        self.live = live
        run_info = read_json_file(live.run_dir.run_json)
        charts = LiveCharts(live.run_dir.run_id, run_info, live.scenario.record.interval)
        self.feed = ConsoleFeed(self.status, live.run_dir.events, charts,
                                on_error=lambda message: live.events.emit("console.error", detail=message))
        hello = {"run_id": live.run_dir.run_id, "scenario": live.scenario.name,
                 "description": live.scenario.description or "", "duration": live.duration}
        try:
            server = ConsoleServer(Access(frozenset()), self.feed.log, self.controller.commands.submit, hello,
                                   page(), self.settings.address, self.settings.port,
                                   redact=lambda text: scrub(text, self.status().faults))
        except OSError as exc:  # taken since the check at the start
            raise UsageError(f"the web console cannot listen on {self.settings.address}:{self.settings.port} "
                             f"({exc.strerror or exc})", hint="pick another --listen port, or 0") from None
        self.access = server.access = Access(host_names(self.settings.address, server.port))
        self.server = server.__enter__()
        self.feed.start()
        live.events.emit("gameday.console", url=self.url)  # the address only: tokens are never written down
        self.announce(f"web console, facilitator (inject / heal / reveal / pause): {self.link(Role.FACILITATOR)}")
        self.announce(f"web console, responders (watch and mark; share this one): {self.link(Role.RESPONDER)}")

    @property
    def url(self) -> str:
        assert self.server is not None
        host = f"[{self.settings.address}]" if ":" in self.settings.address else self.settings.address
        return f"http://{host}:{self.server.port}/console"

    def link(self, role: Role) -> str:
        assert self.access is not None
        token = self.access.facilitator_token if role is Role.FACILITATOR else self.access.responder_token
        return f"{self.url}#{token}"

    def wake(self) -> None:
        if self.feed is not None:
            self.feed.wake()

    def status(self) -> LiveStatus:
        live, controller = self.live, self.controller
        assert live is not None
        engine = live.engine
        faults = [FaultInfo(n=i, name=item.fault.name, shown=engine.shown_name(item), kind=item.fault.kind,
                            target=_target(item), hidden=engine.is_hidden(item), manual=item.fault.manual,
                            active=item.active, started_at=item.started_at, stopped_at=item.stopped_at,
                            planned_at=None if item.fault.manual else item.fault.at, lasts=item.fault.for_)
                  for i, item in enumerate(list(engine.scheduled), 1)]
        with controller.lock:
            services: dict[str, dict[str, float | None]] = {}
            for owner, series in controller.state.samples.items():
                shown = {name: _finite(series.get(key)) for key, name in SERVICE_FIELDS.items() if key in series}
                if shown:
                    services[owner] = shown
            breached: list[dict[str, Any]] = [
                {"check": r.name, "metric": r.metric, "since": r.breach_start, "value": _finite(r.last_value)}
                for r in (controller.tracker.breached() if controller.tracker else [])]
        return LiveStatus(clock=live.clock.now(), duration=live.duration, paused=engine.paused, status="running",
                          faults=faults, services=services, breached=breached)

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server = None
