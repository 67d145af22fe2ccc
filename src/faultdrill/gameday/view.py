"""The live terminal view: a rich renderable built from the controller's snapshot (pure over the dict)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
KEYS = ("keys: 1-9 select fault · i inject · h heal · r reveal · d detected · a alerted · s assessed · "
        "m mitigated · v resolved · q end the game day")


def sparkline(values: list[float | None], width: int = 60) -> str:
    values = values[-width:]
    known = [v for v in values if v is not None]
    top = max(known) if known else 0.0
    if top <= 0:
        return "".join("·" if v is None else BLOCKS[0] for v in values)
    return "".join("·" if v is None else BLOCKS[min(8, round(v / top * 8))] for v in values)


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:.0f}" if value >= 10 else f"{value:.1f}")


def render(state: dict[str, Any], selected: int | None = None, message: str = "") -> Group:
    if "run_id" not in state:
        return Group(Text("starting the stack…"))
    seconds = state["seconds"]
    header = Text.assemble(("faultdrill game day ", "bold"), (state["run_id"], "cyan"),
                           f"   t = {state['t']:.0f}s / {state['duration']:.0f}s")
    rps = [s["ok"] + s["failed"] for s in seconds]
    failed = [s["failed"] for s in seconds]
    p95 = [s["p95"] for s in seconds]
    last = seconds[-1] if seconds else None
    traffic = Table.grid(padding=(0, 2))
    traffic.add_row("requests/s", sparkline([float(v) for v in rps]), f"{rps[-1] if rps else 0}")
    traffic.add_row("failed/s", sparkline([float(v) for v in failed]), f"{failed[-1] if failed else 0}", style="red")
    traffic.add_row("p95 ms", sparkline(p95), _ms(last["p95"]) if last else "-")
    if last:
        traffic.add_row("now", f"users {last['users']}  p50 {_ms(last['p50'])} ms  p95 {_ms(last['p95'])} ms  "
                               f"p99 {_ms(last['p99'])} ms", "")

    services = Table("service", "connections", "threads/pids", "cpu %", "memory MB", box=None, pad_edge=False)
    for name, series in sorted(state.get("samples", {}).items()):
        conns = series.get("connections")
        pids = series.get("resources.pids")
        limit = series.get("resources.pids_limit")
        cpu = series.get("resources.cpu_pct")
        mem = series.get("resources.mem_bytes")
        services.add_row(name, "-" if conns is None else f"{conns:.0f}",
                         "-" if pids is None else f"{pids:.0f}" + (f" / {limit:.0f}" if limit else ""),
                         "-" if cpu is None else f"{cpu:.0f}", "-" if mem is None else f"{mem / 1e6:.0f}")

    faults = Table("#", "fault", "kind", "state", box=None, pad_edge=False)
    for fault in state["faults"]:
        status = "[red]ACTIVE[/]" if fault["active"] else ("healed" if fault["stopped_at"] is not None
                                                            else ("manual" if fault["manual"] else "scheduled"))
        mark = "▶ " if selected == fault["n"] else ""
        faults.add_row(f"{mark}{fault['n']}", fault["name"], fault["kind"], status)

    breached = Text("\n".join(f"✗ {b['check']} ({b['metric']}) since t={b['since']:.0f}s"
                              for b in state["breached"] if b["since"] is not None) or "none", style="red")
    notes = Text("\n".join(f"t={a['t']:.0f}s {a['annotation']}: {a.get('text', '')}" for a in state["annotations"][-6:])
                 or "none")
    return Group(
        Panel(header),
        Panel(traffic, title="traffic (last 60 s)"),
        Panel(services, title="services"),
        Panel(faults, title="faults"),
        Panel(breached, title="checks breached now"),
        Panel(notes, title="annotations"),
        Text(message or KEYS, style="dim"),
    )
