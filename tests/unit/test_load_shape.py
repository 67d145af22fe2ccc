"""Load shapes: ramps, spike, steps, and the open model's intended send times (pure)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultdrill.load.shape import Segment, arrival_times, closed_target, cumulative, level_at, spike, steps


def per_second(times: list[float], duration: int) -> list[int]:
    counts = [0] * duration
    for t in times:
        counts[int(t)] += 1
    return counts


def test_hold_and_ramp_levels() -> None:
    shape = [Segment(10, 20), Segment(20, 120, ramp=True), Segment(30, 120)]
    assert level_at(shape, 5) == 20
    assert level_at(shape, 15) == pytest.approx(70)  # halfway up the ramp
    assert level_at(shape, 25) == 120
    assert level_at(shape, 99) == 120  # the last level holds


def test_closed_ramp_moves_users_along_the_line() -> None:
    shape = [Segment(10, 20), Segment(20, 120, ramp=True)]
    # one second ahead on the line, at the ramp's slope (10 users/s)
    assert closed_target(shape, 12, 30) == (50, 10.0)
    assert closed_target(shape, 19.5, 30) == (120, 10.0)
    assert closed_target(shape, 30, 30) is None


def test_closed_hold_drops_at_once() -> None:
    shape = [Segment(10, 300), Segment(20, 20)]
    users, rate = closed_target(shape, 12, 30)  # type: ignore[misc]
    assert users == 20 and rate >= 280  # 300 -> 20 in one tick, not at 20 users/s


def test_constant_rate_is_evenly_spaced() -> None:
    times = list(arrival_times([Segment(3, 200)], 3))
    assert len(times) == 600
    assert times[:3] == pytest.approx([0.0, 0.005, 0.010])
    assert per_second(times, 3) == [200, 200, 200]


def test_step_from_50_to_500_is_exact_per_second() -> None:
    times = list(arrival_times([Segment(5, 50), Segment(10, 500)], 10))
    assert per_second(times, 10) == [50] * 5 + [500] * 5


def test_ramp_schedules_the_integral() -> None:
    shape = [Segment(10, 100, ramp=True)]  # 0 -> 100 /s over 10 s: 500 arrivals
    times = list(arrival_times(shape, 10))
    assert len(times) == 500 == round(cumulative(shape, 10))
    counts = per_second(times, 10)
    assert counts[0] < counts[5] < counts[9]
    assert all(abs(c - (10 * s + 5)) <= 1 for s, c in enumerate(counts))  # ∫ over [s, s+1) = 10s + 5


def test_zero_rate_then_rate_starts_on_time() -> None:
    assert list(arrival_times([Segment(2, 0), Segment(4, 2)], 4)) == [2.0, 2.5, 3.0, 3.5]


def test_start_skips_what_is_already_past() -> None:
    shape = [Segment(10, 100)]
    times = list(arrival_times(shape, 10, start=7.5))
    assert len(times) == 250 and times[0] == pytest.approx(7.5)


@settings(max_examples=60, deadline=None)
@given(levels=st.lists(st.floats(0, 300), min_size=1, max_size=4), ramps=st.lists(st.booleans(), min_size=4,
       max_size=4), workers=st.integers(1, 5))
def test_workers_split_the_one_schedule_exactly(levels: list[float], ramps: list[bool], workers: int) -> None:
    shape = [Segment(2.0 * (i + 1), level, ramps[i]) for i, level in enumerate(levels)]
    duration = shape[-1].until + 1
    whole = list(arrival_times(shape, duration))
    parts = [list(arrival_times(shape, duration, index=i, stride=workers)) for i in range(workers)]
    assert sorted(t for part in parts for t in part) == whole
    assert abs(len(whole) - cumulative(shape, duration)) <= 1
    assert all(b >= a for a, b in itertools.pairwise(whole))


def test_spike_helper() -> None:
    shape = spike(baseline=20, peak=300, at=30, rise=5, hold=60, decay=30, end=150)
    assert [level_at(shape, t) for t in (0, 29.9, 32.5, 35, 94, 110, 149)] == pytest.approx(
        [20, 20, 160, 300, 300, 160, 20])
    assert shape[-1].until == 150
    with pytest.raises(ValueError, match="before its decay is over"):
        spike(baseline=20, peak=300, at=30, rise=5, hold=60, decay=30, end=100)


def test_spike_without_rise_jumps() -> None:
    shape = spike(baseline=10, peak=100, at=5, rise=0, hold=5, decay=0, end=20, after=30)
    assert [level_at(shape, t) for t in (4.9, 5, 9.9, 10, 19)] == [10, 100, 100, 30, 30]


def test_steps_helper() -> None:
    shape = steps([50, 100, 500], 10)
    assert [level_at(shape, t) for t in (0, 10, 25, 40)] == [50, 100, 500, 500]
    assert math.isclose(cumulative(shape, 30), 6500)
    with pytest.raises(ValueError):
        steps([], 10)
