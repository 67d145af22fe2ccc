"""Sampler gaps: the ticks of the recorder's grid for which a sampler wrote no row (pure).

A gap is a run of consecutive ticks with no row from one sampler — because ``sample()`` raised, or
because an earlier sample was still running when the tick came (the tick was skipped). ``GapTracker``
is fed every tick's outcome by the sampler's thread and turns them into :class:`SamplerGap` records:
the drill writes them into ``run.json``'s ``problems`` and the report shows them near the top.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_REASONS = 3


@dataclass(frozen=True)
class SamplerGap:
    sampler: str  # the sampler's label: "db[db]", "connections[app]", "resources"
    file: str  # the file stem it writes: "db"
    start: float  # run-clock t of the first tick with no row
    end: float  # t of the first tick after the gap: its next row, or where recording stopped
    ticks: int  # ticks with no row
    why: str  # the error(s) or "skipped: …", as the sampler's thread saw them

    def describe(self) -> str:
        return (f"{self.sampler} sampler: no data from t={self.start:g} s to t={self.end:g} s "
                f"({self.ticks} tick{'s' if self.ticks != 1 else ''}): {self.why}")

    def to_json(self) -> dict[str, object]:
        return {"sampler": self.sampler, "file": self.file, "from_t": self.start, "to_t": self.end,
                "ticks": self.ticks, "why": self.why}


@dataclass
class _Open:
    first: int
    ticks: int
    reasons: list[str]


class GapTracker:
    """One sampler's tick outcomes → gaps. Ticks are integers of the grid (t = tick × interval)."""

    def __init__(self, sampler: str, file: str, interval: float) -> None:
        self.sampler = sampler
        self.file = file
        self.interval = interval
        self.missed = 0  # ticks with no row, in all
        self._next: int | None = None  # the first tick not accounted for yet
        self._open: _Open | None = None
        self._closed: list[SamplerGap] = []

    def record(self, tick: int, wrote: bool, why: str = "", skipped_why: str = "") -> None:
        """The outcome of ``tick``; ticks since the last one recorded were skipped (``skipped_why``)."""
        if self._next is not None:
            for _ in range(self._next, tick):
                self._miss(self._next, skipped_why or "skipped")
                self._next += 1
        self._next = tick + 1
        if wrote:
            self._close(tick)
        else:
            self._miss(tick, why or "no row")

    def finish(self, last_tick: int, why: str) -> None:
        """Recording stopped: ticks up to ``last_tick`` not accounted for had no row (``why``)."""
        if self._next is not None:
            while self._next <= last_tick:
                self._miss(self._next, why)
                self._next += 1
            self._close(self._next)

    def gaps(self) -> list[SamplerGap]:
        """Every gap so far; one still open ends at the next tick not accounted for."""
        gaps = list(self._closed)
        if self._open is not None and self._next is not None:
            gaps.append(self._gap(self._open, self._next))
        return gaps

    def _miss(self, tick: int, why: str) -> None:
        self.missed += 1
        if self._open is None:
            self._open = _Open(tick, 0, [])
        self._open.ticks += 1
        if why not in self._open.reasons and len(self._open.reasons) < MAX_REASONS:
            self._open.reasons.append(why)

    def _close(self, end_tick: int) -> None:
        if self._open is not None:
            self._closed.append(self._gap(self._open, end_tick))
            self._open = None

    def _gap(self, gap: _Open, end_tick: int) -> SamplerGap:
        return SamplerGap(self.sampler, self.file, grid_t(gap.first, self.interval), grid_t(end_tick, self.interval),
                          gap.ticks, "; ".join(gap.reasons))


REASON_CHARS = 160


def summarize(gaps: list[SamplerGap]) -> list[str]:
    """One line per sampler (its gaps may be many short ones): how many ticks, where, the longest,
    and why — for ``run.json``'s problems and the top of the report."""
    by_sampler: dict[str, list[SamplerGap]] = {}
    for gap in gaps:
        by_sampler.setdefault(gap.sampler, []).append(gap)
    lines = []
    for sampler, items in by_sampler.items():
        if len(items) == 1:
            lines.append(_short(items[0].describe()))
            continue
        longest = max(items, key=lambda g: g.end - g.start)
        reasons: list[str] = []
        for g in items:
            for why in g.why.split("; "):
                if why not in reasons and len(reasons) < MAX_REASONS:
                    reasons.append(why)
        lines.append(_short(f"{sampler} sampler: no data for {sum(g.ticks for g in items)} ticks in {len(items)} "
                            f"stretches between t={items[0].start:g} s and t={items[-1].end:g} s (longest "
                            f"{longest.end - longest.start:g} s from t={longest.start:g} s): {'; '.join(reasons)}"))
    return lines


def _short(text: str) -> str:
    head, _, why = text.partition("): ")
    if len(why) > REASON_CHARS:
        why = why[:REASON_CHARS - 1] + "…"
    return f"{head}): {why}" if why else head


def grid_t(tick: int, interval: float) -> float:
    """The run-clock time of a tick: exactly ``tick × interval``, without float noise (0.30000000000000004)."""
    return round(tick * interval, 6)
