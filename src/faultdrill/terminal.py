"""The terminal: the CLI's consoles and how a drill's progress is shown on them (stderr)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from faultdrill.drill import DrillOutcome

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class ConsoleObserver:
    """Progress of a drill on the terminal (stderr). Fault names come as responders may see them
    (a hidden fault is "hidden fault #n" until revealed)."""

    def __init__(self, every: int = 5) -> None:
        self.every = every
        self.duration = 0.0
        self.faults: list[str] = []

    def log(self, message: str) -> None:
        """Plain text from the library: printed as it is (``app_metrics[app]`` is not markup)."""
        self._print(escape(message))

    def _print(self, markup: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {markup}")

    def started(self, run_id: str, run_dir: Path, duration: float) -> None:
        self.duration = duration
        self._print(f"run [bold]{escape(run_id)}[/] → {escape(str(run_dir))}")

    def second(self, t: int, users: int, rps: int, failures: int, p95_ms: float | None,
               active_faults: list[str]) -> None:
        if active_faults != self.faults:
            started = [f for f in active_faults if f not in self.faults]
            stopped = [f for f in self.faults if f not in active_faults]
            for name in started:
                was = next((old for old in stopped if name.endswith(f"({old})")), None)
                if was is not None:  # a hidden fault revealed while on: same fault, now with its name
                    stopped.remove(was)
                    self._print(f"[yellow]revealed[/]: {escape(was)} is {escape(name.removesuffix(f' ({was})'))}")
                else:
                    self._print(f"[red]fault on[/]: {escape(name)}")
            for name in stopped:
                self._print(f"[green]fault off[/]: {escape(name)}")
            self.faults = list(active_faults)
        if t % self.every == 0:
            p95 = "-" if p95_ms is None else f"{p95_ms:.0f} ms"
            faults = ", ".join(active_faults) or "none"
            self.log(f"t={t:>4}/{self.duration:.0f}s users={users:<4} rps={rps:<5} failed={failures:<4} "
                     f"p95 ok={p95:<8} faults: {faults}")


def print_outcome(outcome: DrillOutcome) -> None:
    """A finished drill on the terminal: problems, the error, each check, the verdict and where it all is."""
    for problem in outcome.problems:
        console.print(f"[yellow]warning:[/] {escape(problem)}")
    if outcome.error:
        console.print("error:", style="red", end=" ")
        console.print(outcome.error, markup=False)
    if outcome.report is not None:
        for check in outcome.report.checks:
            mark = "[green]PASS[/]" if check.passed else (
                "[yellow]MISCONFIGURED[/]" if check.outcome == "misconfigured" else "[red]FAIL[/]")
            console.print(f"  {mark} ", end="")
            console.print(f"{check.name}: {check.reason} (window {check.window})", markup=False)
    verdict = {0: "[green]passed[/]", 1: "[red]a check failed[/]", 130: "[yellow]interrupted[/]"}.get(
        outcome.exit_code, "[red]failed[/]")
    if outcome.status == "aborted":
        verdict = "[red]stopped early by a stop condition[/]"
    console.print(f"drill {outcome.status}: {verdict} — results in {escape(str(outcome.run_dir))}")
