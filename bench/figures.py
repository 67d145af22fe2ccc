"""Figures a benchmark reports: a value per round, its goal, median and spread, and a verdict.

Every script under ``bench/`` measures its sides in one run, alternating them round by round (so a
neighbour's load hits both sides alike), states each goal, prints one table and exits 1 when a goal
is missed. It also prints one ``BENCH-FIGURE {json}`` line per figure, which ``run_all.py`` gathers
into ``bench/RESULTS.md``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_ROUNDS = 3
MARKER = "BENCH-FIGURE "


@dataclass
class Figure:
    """One measured quantity over rounds; ``goal`` is a predicate on the median."""

    name: str
    unit: str
    goal_text: str = "(reported)"
    goal: Callable[[float], bool] | None = None
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        return (min(self.values), max(self.values)) if self.values else (float("nan"), float("nan"))

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "-"
        if not self.values:
            return "MISSED (no data)"
        return "met" if self.goal(self.median) else "MISSED"

    @property
    def missed(self) -> bool:
        return self.verdict.startswith("MISSED")

    def as_json(self) -> dict[str, object]:
        lo, hi = self.spread
        return {"name": self.name, "unit": self.unit, "goal": self.goal_text, "median": self.median,
                "min": lo, "max": hi, "rounds": len(self.values), "verdict": self.verdict}


def at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def at_most(bound: float) -> Callable[[float], bool]:
    return lambda value: value <= bound


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "goal", "median", "spread (min–max)", "rounds", "verdict")]
    for f in figures:
        lo, hi = f.spread
        rows.append((f.name, f.goal_text, f"{_fmt(f.median)} {f.unit}", f"{_fmt(lo)} – {_fmt(hi)}",
                     str(len(f.values)), f.verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(figures: list[Figure], title: str) -> int:
    """Print the table and the machine-readable lines; 1 when a goal was missed."""
    print(f"\n{title}")
    print(table(figures))
    for f in figures:
        print(MARKER + json.dumps(f.as_json()))
    missed = [f.name for f in figures if f.missed]
    if missed:
        print(f"goal missed: {', '.join(missed)}")
        return 1
    return 0
