"""Load shapes as pure functions of the run clock (after ``locust/shape.py``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    until: float
    users: int
    spawn_rate: float | None


def target_at(stages: list[StageSpec], t: float, duration: float) -> tuple[int, float] | None:
    """(users, spawn rate) the generator should aim for at run time ``t``; None once the drill is over.

    A stage without ``spawn_rate`` jumps to its user count at once.
    """
    if t >= duration:
        return None
    for stage in stages:
        if t < stage.until:
            return stage.users, stage.spawn_rate or float(max(stage.users, 1))
    last = stages[-1]
    return last.users, last.spawn_rate or float(max(last.users, 1))
