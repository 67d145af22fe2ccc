"""SamplingRecorder: threads per sampler, retries, crash-safe files — with in-memory samplers."""

from __future__ import annotations

import csv
import itertools
import random
import threading
import time
from pathlib import Path

import pytest

from faultdrill.clock import RunClock
from faultdrill.recorder.sampling import PartialSample, SamplingRecorder, format_cell

INTERVAL = 0.1


class FakeSampler:
    def __init__(self, name: str = "fast", delay: float = 0.0, fail_first: int = 0,
                 columns: list[str] | None = None, label: str | None = None) -> None:
        self.name = name
        self.label = label or name
        self.columns = columns or ["service", "value"]
        self.delay = delay
        self.fail_first = fail_first
        self.calls = 0
        self.closed = False

    def sample(self) -> list[dict[str, object]]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.calls <= self.fail_first:
            raise ConnectionError("the probe's endpoint refused the connection")
        return [{"service": self.label, "value": self.calls}]

    def close(self) -> None:
        self.closed = True


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_slow_sampler_does_not_delay_a_fast_one(tmp_path: Path) -> None:
    fast, slow = FakeSampler("fast"), FakeSampler("slow", delay=1.0)
    with SamplingRecorder([slow, fast], RunClock(), tmp_path, INTERVAL):
        time.sleep(1.05)
    fast_t = [float(r["t"]) for r in read_rows(tmp_path / "fast.csv")]
    assert len(fast_t) >= 8, fast_t
    assert max(b - a for a, b in itertools.pairwise(fast_t)) < 2.5 * INTERVAL
    assert len(read_rows(tmp_path / "slow.csv")) <= 2  # and the slow one skipped the ticks it missed
    assert fast.closed and slow.closed


def test_a_raising_sampler_is_retried_and_logged_once(tmp_path: Path) -> None:
    logged: list[str] = []
    flaky = FakeSampler("flaky", fail_first=3)
    with SamplingRecorder([flaky], RunClock(), tmp_path, INTERVAL, log=logged.append) as recorder:
        time.sleep(0.75)
    rows = read_rows(tmp_path / "flaky.csv")
    assert rows and int(rows[0]["value"]) == 4  # calls 1-3 raised, the 4th and later were written
    assert len(logged) == 1 and "refused the connection" in logged[0] and "flaky" in logged[0]
    assert recorder.stats()[0]["failures"] == 3


def test_rows_are_on_disk_while_the_recorder_runs(tmp_path: Path) -> None:
    clock = RunClock()
    with SamplingRecorder([FakeSampler("live")], clock, tmp_path, INTERVAL):
        time.sleep(0.35)
        rows = read_rows(tmp_path / "live.csv")  # read by another reader, nothing closed yet
        assert len(rows) >= 3
        last = rows[-1]
        assert clock.now() - float(last["t"]) < 2 * INTERVAL
        assert last["t"] == f"{float(last['t']):.3f}" and last["wall"].startswith(clock.wall(0)[:10])


def test_rows_are_stamped_on_the_run_clock_tick_grid(tmp_path: Path) -> None:
    clock = RunClock()
    time.sleep(0.23)  # the recorder starts late: it joins the grid, it does not start its own
    with SamplingRecorder([FakeSampler("grid")], clock, tmp_path, INTERVAL):
        time.sleep(0.4)
    ts = [float(r["t"]) for r in read_rows(tmp_path / "grid.csv")]
    assert ts[0] >= 0.3 - 1e-3
    assert all(abs(t / INTERVAL - round(t / INTERVAL)) < 0.3 for t in ts), ts  # within 30 ms of a tick


def test_samplers_with_one_name_share_a_file_and_partial_rows_are_kept(tmp_path: Path) -> None:
    class Partial(FakeSampler):
        def sample(self) -> list[dict[str, object]]:
            raise PartialSample([{"service": "half", "value": 1}], "the other half timed out")

    logged: list[str] = []
    seen: list[tuple[str, float, int]] = []
    samplers = [FakeSampler("shared", label="a"), FakeSampler("shared", label="b"), Partial("shared", label="c")]
    with SamplingRecorder(samplers, RunClock(), tmp_path, INTERVAL,
                          on_rows=lambda name, t, rows: seen.append((name, t, len(rows))), log=logged.append):
        time.sleep(0.35)
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

    with SamplingRecorder([FakeSampler("v")], RunClock(), tmp_path, INTERVAL, on_rows=on_rows, log=logged.append):
        time.sleep(0.35)
    assert len(read_rows(tmp_path / "v.csv")) >= 3
    assert len(logged) == 1 and "on_rows(v)" in logged[0]


def test_close_does_not_wait_for_a_hung_sampler_forever(tmp_path: Path) -> None:
    release = threading.Event()

    class Hung(FakeSampler):
        def sample(self) -> list[dict[str, object]]:
            release.wait(5)
            return []

    logged: list[str] = []
    recorder = SamplingRecorder([Hung("hung")], RunClock(), tmp_path, INTERVAL, log=logged.append)
    recorder.start()
    time.sleep(0.15)  # the first tick (0.1 s) is in sample(), hung
    started = time.monotonic()
    recorder.close(timeout=0.3)
    release.set()
    assert time.monotonic() - started < 1.0
    assert "did not stop" in logged[0]


def test_cells_are_written_for_pandas_and_spreadsheets() -> None:
    assert [format_cell(v) for v in (None, True, False, 3.0, 0.1 + 0.2, float("nan"), 7, "x")] == \
        ["", 1, 0, 3, "0.3", "nan", 7, "x"]


class LateClock(RunClock):
    """A run clock read a few milliseconds late, as a sampler thread woken by a busy host reads it."""

    def now(self) -> float:
        return super().now() + random.uniform(0.001, 0.009)


def test_every_sampler_stamps_the_ticks_grid_time_so_services_line_up(tmp_path: Path) -> None:
    samplers = [FakeSampler("shared", label=name) for name in ("app", "db", "ingress")]
    seen: list[float] = []
    with SamplingRecorder(samplers, LateClock(), tmp_path, INTERVAL, on_rows=lambda n, t, rows: seen.append(t)):
        time.sleep(0.65)
    rows = read_rows(tmp_path / "shared.csv")
    ticks = {r["t"] for r in rows}
    assert all(t == f"{round(float(t) / INTERVAL) * INTERVAL:.3f}" for t in ticks), sorted(ticks)
    per_service = {name: {r["t"] for r in rows if r["service"] == name} for name in ("app", "db", "ingress")}
    common = per_service["app"] & per_service["db"] & per_service["ingress"]
    assert len(common) >= 4, per_service  # one t per tick for every sampler: their values add up per t
    assert all(abs(t / INTERVAL - round(t / INTERVAL)) < 1e-9 for t in seen)  # the live view gets it too


def test_ticks_a_sampler_wrote_no_row_for_are_gaps_with_their_reason(tmp_path: Path) -> None:
    flaky = FakeSampler("flaky", label="db[db]", fail_first=3)
    with SamplingRecorder([flaky, FakeSampler("fine")], RunClock(), tmp_path, INTERVAL) as recorder:
        time.sleep(0.75)
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
    clock = RunClock()
    with SamplingRecorder([slow, down], clock, tmp_path, INTERVAL) as recorder:
        time.sleep(1.0)
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
    clock = RunClock()
    time.sleep(0.01)  # the drill builds the recorder a few ms after its clock starts
    with SamplingRecorder([FakeSampler("first")], clock, tmp_path, interval) as recorder:
        time.sleep(interval * 1.5)
    assert read_rows(tmp_path / "first.csv")[0]["t"] == "0.000"
    assert recorder.gaps() == []
