"""SamplingRecorder: threads per sampler, retries, crash-safe files — with in-memory samplers.

Most tests run the recorder's real threads on a ``VirtualClock``: run-clock time moves only when the test
moves it, wake-up by wake-up, once every sampler thread is waiting again — the same ticks, skips and gaps
as on the wall clock, without waiting for them (and without a busy machine's late wake-ups). The last
ones run on the real ``RunClock``, as the drill does."""

from __future__ import annotations

import csv
import itertools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from faultdrill.clock import RunClock
from faultdrill.recorder.sampling import PartialSample, SamplingRecorder, format_cell

INTERVAL = 0.1
PARK_TIMEOUT_S = 10.0  # real seconds for every sampler thread to be waiting again: else one is stuck


class VirtualClock(RunClock):
    """A run clock whose time moves only in ``advance``. The recorder waits for its ticks with ``wait`` and
    fake samplers take their time with ``sleep``; ``advance`` moves time to the earliest wake-up, lets
    those threads run, waits until every thread is waiting again, and so on up to the time asked for."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__(t0=0.0, wall0=1_800_000_000.0)
        self._now = start
        self._cond = threading.Condition()
        self._waiting: dict[int, float] = {}  # thread id -> virtual time it wakes at
        self._halted = False

    def now(self) -> float:
        with self._cond:
            return self._now

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """The recorder's wait for its next tick: True once ``event`` is set (checked every 5 ms)."""
        return self._park(event, timeout)

    def sleep(self, seconds: float) -> None:
        """A sampler's slow read: ``seconds`` of run-clock time, or none once ``halt`` was called."""
        self._park(None, seconds)

    def halt(self) -> None:
        """Time stops for good: samples still taking their time return, so the recorder can close."""
        with self._cond:
            self._halted = True
            self._cond.notify_all()

    def _park(self, event: threading.Event | None, timeout: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            if event is None and self._halted:
                return False
            if timeout <= 0 or (event is not None and event.is_set()):
                return event is not None and event.is_set()
            deadline = self._now + timeout
            self._waiting[me] = deadline
            self._cond.notify_all()
            try:
                while self._now < deadline and not (event.is_set() if event else self._halted):
                    self._cond.wait(0.005)  # event.set() does not notify this condition
            finally:
                self._waiting.pop(me, None)
            return event is not None and event.is_set()

    def advance(self, to: float, threads: int) -> None:
        """Moves time to ``to``, one wake-up at a time, each once all ``threads`` threads are waiting."""
        with self._cond:
            while True:
                if not self._cond.wait_for(lambda: len(self._waiting) >= threads, PARK_TIMEOUT_S):
                    raise AssertionError(f"only {len(self._waiting)} of {threads} sampler threads are waiting "
                                         "on the clock: one is stuck")
                wake = min(self._waiting.values())
                if wake > to:
                    self._now = to
                    return
                self._now = wake
                for ident in [i for i, at in self._waiting.items() if at <= wake]:
                    del self._waiting[ident]  # running now: waited for until it waits again
                self._cond.notify_all()


class FakeSampler:
    def __init__(self, name: str = "fast", delay: float = 0.0, fail_first: int = 0,
                 columns: list[str] | None = None, label: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.label = label or name
        self.columns = columns or ["service", "value"]
        self.delay = delay
        self.fail_first = fail_first
        self.sleep = sleep
        self.calls = 0
        self.closed = False

    def sample(self) -> list[dict[str, object]]:
        self.calls += 1
        if self.delay:
            self.sleep(self.delay)
        if self.calls <= self.fail_first:
            raise ConnectionError("the probe's endpoint refused the connection")
        return [{"service": self.label, "value": self.calls}]

    def close(self) -> None:
        self.closed = True


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def record(samplers: list[Any], run_dir: Path, seconds: float, clock: VirtualClock | None = None,
           interval: float = INTERVAL, **options: Any) -> SamplingRecorder:
    """A recorder over ``samplers`` for ``seconds`` of run-clock time (from the clock's now), then closed."""
    clock = clock or VirtualClock()
    for sampler in samplers:
        if isinstance(sampler, FakeSampler):
            sampler.sleep = clock.sleep
    with SamplingRecorder(samplers, clock, run_dir, interval, wait=clock.wait, **options) as recorder:
        clock.advance(clock.now() + seconds, threads=len(samplers))
        clock.halt()
    return recorder


def test_a_slow_sampler_does_not_delay_a_fast_one(tmp_path: Path) -> None:
    fast, slow = FakeSampler("fast"), FakeSampler("slow", delay=1.0)
    record([slow, fast], tmp_path, 1.05)
    fast_t = [float(r["t"]) for r in read_rows(tmp_path / "fast.csv")]
    assert len(fast_t) >= 8, fast_t
    assert max(b - a for a, b in itertools.pairwise(fast_t)) < 2.5 * INTERVAL
    assert len(read_rows(tmp_path / "slow.csv")) <= 2  # and the slow one skipped the ticks it missed
    assert fast.closed and slow.closed


def test_a_raising_sampler_is_retried_and_logged_once(tmp_path: Path) -> None:
    logged: list[str] = []
    flaky = FakeSampler("flaky", fail_first=3)
    recorder = record([flaky], tmp_path, 0.75, log=logged.append)
    rows = read_rows(tmp_path / "flaky.csv")
    assert rows and int(rows[0]["value"]) == 4  # calls 1-3 raised, the 4th and later were written
    assert len(logged) == 1 and "refused the connection" in logged[0] and "flaky" in logged[0]
    assert recorder.stats()[0]["failures"] == 3


def test_rows_are_on_disk_while_the_recorder_runs(tmp_path: Path) -> None:
    clock = RunClock()  # the real clock, as the drill runs it
    with SamplingRecorder([FakeSampler("live")], clock, tmp_path, INTERVAL):
        time.sleep(0.35)
        rows = read_rows(tmp_path / "live.csv")  # read by another reader, nothing closed yet
        assert len(rows) >= 3
        last = rows[-1]
        assert clock.now() - float(last["t"]) < 2 * INTERVAL
        assert last["t"] == f"{float(last['t']):.3f}" and last["wall"].startswith(clock.wall(0)[:10])


def test_rows_are_stamped_on_the_run_clock_tick_grid(tmp_path: Path) -> None:
    clock = VirtualClock(start=0.23)  # the recorder starts late: it joins the grid, it does not start its own
    record([FakeSampler("grid")], tmp_path, 0.4, clock)
    ts = [float(r["t"]) for r in read_rows(tmp_path / "grid.csv")]
    assert ts == [0.3, 0.4, 0.5, 0.6]  # its first tick is the grid's next, 0.3, not 0.23
    assert all(abs(t / INTERVAL - round(t / INTERVAL)) < 0.3 for t in ts), ts  # within 30 ms of a tick


def test_samplers_with_one_name_share_a_file_and_partial_rows_are_kept(tmp_path: Path) -> None:
    class Partial(FakeSampler):
        def sample(self) -> list[dict[str, object]]:
            raise PartialSample([{"service": "half", "value": 1}], "the other half timed out")

    logged: list[str] = []
    seen: list[tuple[str, float, int]] = []
    samplers = [FakeSampler("shared", label="a"), FakeSampler("shared", label="b"), Partial("shared", label="c")]
    record(samplers, tmp_path, 0.35, on_rows=lambda name, t, rows: seen.append((name, t, len(rows))),
           log=logged.append)
    services = {r["service"] for r in read_rows(tmp_path / "shared.csv")}
    assert services == {"a", "b", "half"}
    assert len(logged) == 1 and "the other half timed out" in logged[0]
    assert {name for name, _, _ in seen} == {"shared"}


def test_samplers_sharing_a_file_must_agree_on_columns(tmp_path: Path) -> None:
    samplers = [FakeSampler("x"), FakeSampler("x", columns=["other"])]
    with pytest.raises(ValueError, match="disagree on columns"), \
            SamplingRecorder(samplers, RunClock(), tmp_path, INTERVAL):
        pass
    assert all(s.closed for s in samplers)  # a recorder that cannot start closes what it was given


def test_a_broken_live_view_does_not_stop_the_recording(tmp_path: Path) -> None:
    logged: list[str] = []

    def on_rows(name: str, t: float, rows: list) -> None:
        raise KeyError("live view")

    record([FakeSampler("v")], tmp_path, 0.35, on_rows=on_rows, log=logged.append)
    assert len(read_rows(tmp_path / "v.csv")) >= 3
    assert len(logged) == 1 and "on_rows(v)" in logged[0]


def test_close_does_not_wait_for_a_hung_sampler_forever(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    class Hung(FakeSampler):
        def sample(self) -> list[dict[str, object]]:
            entered.set()
            release.wait(5)
            return []

    logged: list[str] = []
    recorder = SamplingRecorder([Hung("hung")], RunClock(), tmp_path, INTERVAL, log=logged.append)
    recorder.start()
    assert entered.wait(5)  # the first tick (t=0) is in sample(), hung
    started = time.monotonic()
    recorder.close(timeout=0.3)
    release.set()
    assert time.monotonic() - started < 1.0
    assert "did not stop" in logged[0]


def test_cells_are_written_for_pandas_and_spreadsheets() -> None:
    assert [format_cell(v) for v in (None, True, False, 3.0, 0.1 + 0.2, float("nan"), 7, "x")] == \
        ["", 1, 0, 3, "0.3", "nan", 7, "x"]


class LateClock(VirtualClock):
    """A run clock read a few milliseconds late, as a sampler thread woken by a busy host reads it."""

    def now(self) -> float:
        return super().now() + random.uniform(0.001, 0.009)


def test_every_sampler_stamps_the_ticks_grid_time_so_services_line_up(tmp_path: Path) -> None:
    samplers = [FakeSampler("shared", label=name) for name in ("app", "db", "ingress")]
    seen: list[float] = []
    record(samplers, tmp_path, 0.65, LateClock(), on_rows=lambda n, t, rows: seen.append(t))
    rows = read_rows(tmp_path / "shared.csv")
    ticks = {r["t"] for r in rows}
    assert all(t == f"{round(float(t) / INTERVAL) * INTERVAL:.3f}" for t in ticks), sorted(ticks)
    per_service = {name: {r["t"] for r in rows if r["service"] == name} for name in ("app", "db", "ingress")}
    common = per_service["app"] & per_service["db"] & per_service["ingress"]
    assert len(common) >= 4, per_service  # one t per tick for every sampler: their values add up per t
    assert all(abs(t / INTERVAL - round(t / INTERVAL)) < 1e-9 for t in seen)  # the live view gets it too


def test_ticks_a_sampler_wrote_no_row_for_are_gaps_with_their_reason(tmp_path: Path) -> None:
    flaky = FakeSampler("flaky", label="db[db]", fail_first=3)
    recorder = record([flaky, FakeSampler("fine")], tmp_path, 0.75)
    first_row_t = float(read_rows(tmp_path / "flaky.csv")[0]["t"])
    gaps = recorder.gaps()
    assert len(gaps) == 1, gaps
    gap = gaps[0]
    assert (gap.sampler, gap.file, gap.ticks) == ("db[db]", "flaky", 3)
    assert gap.end == first_row_t and gap.start == pytest.approx(first_row_t - 3 * INTERVAL)
    assert "ConnectionError: the probe's endpoint refused the connection" in gap.why
    assert gap.describe().startswith(f"db[db] sampler: no data from t={gap.start:g} s to t={first_row_t:g} s "
                                     "(3 ticks): ConnectionError")
    assert recorder.stats()[0]["missed_ticks"] == 3


def test_ticks_skipped_behind_a_slow_sample_and_a_sampler_down_to_the_end_are_gaps(tmp_path: Path) -> None:
    class DownAfterTwo(FakeSampler):
        def sample(self) -> list[dict[str, object]]:
            if self.calls >= 2:
                raise TimeoutError("no free connection slot")
            return super().sample()

    slow, down = FakeSampler("slow", delay=0.35), DownAfterTwo("down")
    recorder = record([slow, down], tmp_path, 1.0)
    gaps = recorder.gaps()
    slow_rows = sorted(round(float(r["t"]) / INTERVAL) for r in read_rows(tmp_path / "slow.csv"))
    skipped = [g for g in gaps if g.sampler == "slow"]
    assert skipped[0].ticks >= 2 and "skipped while a sample took 0.3" in skipped[0].why
    missing = {round(g.start / INTERVAL) + i for g in skipped for i in range(g.ticks)}
    assert missing.isdisjoint(slow_rows) and len(missing) + len(slow_rows) >= 9  # every tick: a row or a gap
    [gap] = [g for g in gaps if g.sampler == "down"]
    ended = round(gap.end / INTERVAL)
    assert "TimeoutError: no free connection slot" in gap.why and gap.ticks >= 6
    assert gap.ticks == ended - round(gap.start / INTERVAL)  # open to the end: every tick counted
    assert abs(gap.end - 1.0) <= 2 * INTERVAL


def test_many_short_gaps_of_one_sampler_are_one_problem_line() -> None:
    from faultdrill.recorder.gaps import SamplerGap, summarize

    why = "SamplerUnavailable: GET http://127.0.0.1:1/metrics answered 503"
    gaps = [SamplerGap("app_metrics[app]", "app_metrics", a, b, int(b - a), why)
            for a, b in ((45, 52), (53, 55), (57, 58), (60, 62))]
    gaps.append(SamplerGap("db[db]", "db", 65, 120, 55, "OperationalError: " + "x" * 400))
    lines = summarize(gaps)
    assert lines[0] == ("app_metrics[app] sampler: no data for 12 ticks in 4 stretches between t=45 s and t=62 s "
                        f"(longest 7 s from t=45 s): {why}")
    assert lines[1].startswith("db[db] sampler: no data from t=65 s to t=120 s (55 ticks): OperationalError: x")
    assert len(lines) == 2 and len(lines[1]) < 260 and lines[1].endswith("…")


def test_a_recorder_started_just_after_the_clock_samples_tick_0(tmp_path: Path) -> None:
    interval = 0.4  # tick 0 is taken up to interval/2 late: 200 ms, room for a busy machine to start a thread
    clock = VirtualClock(start=0.01)  # the drill builds the recorder a few ms after its clock starts
    recorder = record([FakeSampler("first")], tmp_path, interval * 1.5, clock, interval=interval)
    assert read_rows(tmp_path / "first.csv")[0]["t"] == "0.000"
    assert recorder.gaps() == []
