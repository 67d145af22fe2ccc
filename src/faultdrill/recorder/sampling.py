"""The recorder's samplers, each on its own thread, writing tidy CSVs into ``results/<run>/`` as they go.

A *sampler* knows how to read one kind of measurement right now (``sample()``) and which columns its
rows have. The ``SamplingRecorder`` calls every sampler once per ``interval`` on the run clock's tick
grid (t = 0, interval, 2·interval, …), each on its own thread, so a slow probe (a DB under lock
contention, an HTTP endpoint that hangs until its timeout) never delays the others; a sampler that
falls behind skips the ticks it missed instead of piling them up. Rows are stamped with the tick's
grid time ``t = tick × interval`` (seconds, 3 decimals: every sampler's rows of one tick share one
``t``, so values of different services add up per ``t``) and the ``wall`` time at which the read
really started, appended to ``<run_dir>/<name>.csv`` and flushed at once: a run killed with SIGKILL
keeps every row written up to its last tick. Several samplers may share one file (same ``name``, same ``columns``): the connections
sampler runs once per container, for instance, so a container read through ``docker exec`` (slow)
never delays the others.

A sampler that raises is logged once per distinct error and retried at the next tick; one that raises
``PartialSample`` has its partial rows written and its error logged the same way. Every tick a sampler
wrote no row for (it raised, or a slow sample made it skip the tick) is counted: ``gaps()`` gives them
as ``SamplerGap`` records (sampler, from t, to t, ticks, why) for ``run.json`` and the report.

The files and their columns are documented in ``docs/results.md``. ``build_samplers`` picks the
samplers that apply to a running stack.
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from faultdrill.clock import RunClock
from faultdrill.recorder.gaps import GapTracker, SamplerGap, grid_t
from faultdrill.recorder.samplers.base import PartialSample, first_line

if TYPE_CHECKING:
    from docker import DockerClient
    from faultdrill.scenario.model import Record
    from faultdrill.stack.stack import DockerStack

__all__ = [
    "LEADING_COLUMNS",
    "PartialSample",
    "Sampler",
    "SamplerGap",
    "SamplingRecorder",
    "build_samplers",
    "format_cell",
    "recorder_for",
]

LEADING_COLUMNS = ["t", "wall"]
OnRows = Callable[[str, float, list[dict[str, object]]], None]
Log = Callable[[str], None]
Wait = Callable[[threading.Event, float], bool]  # waits on the stop event up to that many seconds: True once set


class Sampler(Protocol):
    name: str  # file stem: results/<run>/<name>.csv
    columns: list[str]  # columns after the fixed leading "t", "wall"

    def sample(self) -> list[dict[str, object]]:
        """Rows for this instant; may be slow; may raise (``PartialSample`` to keep some rows)."""
        ...

    # optional: ``open()``, called once when the recorder starts, before any tick (a DB session to hold)

    def close(self) -> None: ...


def format_cell(value: object) -> object:
    """How a value is written to a CSV cell: None -> empty, bools -> 1/0, whole floats without '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)  # nan, inf, -inf: what pandas and spreadsheets read back
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return repr(round(value, 6))
    return value


class _SeriesFile:
    """One ``<name>.csv``: header once, rows appended and flushed under a lock (shared by samplers)."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns
        new = not path.exists() or path.stat().st_size == 0
        self._fh: IO[str] = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - held for the object's life, closed in close()
        self._writer = csv.DictWriter(self._fh, fieldnames=[*LEADING_COLUMNS, *columns], extrasaction="raise")
        self._lock = threading.Lock()
        if new:
            self._writer.writeheader()
            self._fh.flush()

    def append(self, t: float, wall: str, rows: list[dict[str, object]]) -> None:
        lines = [{"t": f"{t:.3f}", "wall": wall, **{k: format_cell(v) for k, v in row.items()}} for row in rows]
        with self._lock:
            if self._fh.closed:
                return
            self._writer.writerows(lines)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class _Worker:
    """Runs one sampler on the tick grid until stopped; keeps count of the ticks it wrote no row for."""

    def __init__(self, recorder: SamplingRecorder, sampler: Sampler, series: _SeriesFile) -> None:
        self.recorder = recorder
        self.sampler = sampler
        self.series = series
        self.label = str(getattr(sampler, "label", sampler.name))
        self.samples = 0
        self.failures = 0
        self.cpu_s = 0.0  # CPU time spent in sample() + writing, on this thread
        self.busy_tick: int | None = None  # the tick whose sample() is running
        self.gaps = GapTracker(self.label, sampler.name, recorder.interval)
        self.gaps_lock = threading.Lock()
        self._last_took = 0.0
        self.thread = threading.Thread(target=self._run, name=f"sampler-{self.label}", daemon=True)

    def _run(self) -> None:
        rec = self.recorder
        interval = rec.interval
        last_tick = -1
        while not rec._stop.is_set():
            # the next tick of the grid not yet sampled; ticks missed by a slow sample are skipped.
            # Tick 0 too when the recorder starts just after the clock (the run's first instant).
            now = rec.clock.now()
            first = last_tick < 0 and now < interval / 2
            tick = 0 if first else max(math.ceil(now / interval - 1e-9), last_tick + 1)
            if rec._wait(rec._stop, max(0.0, tick * interval - rec.clock.now())):
                return
            last_tick = tick
            self._once(tick)

    def _once(self, tick: int) -> None:
        rec = self.recorder
        cpu0, started = time.thread_time(), rec.clock.now()
        t = grid_t(tick, rec.interval)  # every sampler's row of this tick has the same t
        wall = rec.clock.wall(rec.clock.now())  # when the read really started
        self.busy_tick = tick
        rows, why = self._sample()
        if rows:
            try:
                self.series.append(t, wall, rows)
            except ValueError as exc:  # a row with a column the file does not have: a sampler bug
                rec._problem(self.label, exc)
                rows, why = [], _text(exc)
            else:
                rec._deliver(self.sampler.name, t, rows)
        skipped = f"skipped while a sample took {self._last_took:.2g} s"
        with self.gaps_lock:
            self.gaps.record(tick, bool(rows), why, skipped)
            self.busy_tick = None
        self._last_took = rec.clock.now() - started
        self.cpu_s += time.thread_time() - cpu0

    def _sample(self) -> tuple[list[dict[str, object]], str]:
        """This instant's rows, and why there are none (the error) when there are none."""
        rec = self.recorder
        try:
            rows = self.sampler.sample()
        except PartialSample as exc:
            self.failures += 1
            cause = exc.cause if exc.cause is not None else exc
            rec._problem(self.label, cause)
            return exc.rows, _text(cause)
        except Exception as exc:
            self.failures += 1
            rec._problem(self.label, exc)
            return [], _text(exc)
        self.samples += 1
        return rows, "" if rows else "the sampler returned no rows"

    def finish(self, stopped_at: float) -> None:
        """Ticks the recording covered (each given a full interval) with no row count as a gap."""
        last_tick = math.floor(stopped_at / self.recorder.interval + 1e-9) - 1
        with self.gaps_lock:
            busy = self.busy_tick
            why = (f"the sample of t={grid_t(busy, self.recorder.interval):g} s had not returned when recording "
                   f"stopped" if busy is not None else f"skipped while a sample took {self._last_took:.2g} s")
            self.gaps.finish(last_tick, why)


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}"


class SamplingRecorder:
    """Context manager: starts one thread per sampler on entry; stops, closes and flushes on exit."""

    def __init__(self, samplers: list[Sampler], clock: RunClock, run_dir: Path, interval: float,
                 on_rows: OnRows | None = None, log: Log = lambda _: None,
                 wait: Wait = threading.Event.wait) -> None:
        """``wait``: how a sampler thread waits for its next tick (a test's virtual clock moves time
        itself: it passes its own, with a ``clock`` whose ``now()`` it keeps)."""
        if not 0.05 <= interval <= 3600:
            raise ValueError(f"interval must be between 0.05 s and 1 h, got {interval!r}")
        self.samplers = list(samplers)
        self.clock = clock
        self.run_dir = Path(run_dir)
        self.interval = float(interval)
        self.on_rows = on_rows
        self.log = log
        self._wait = wait
        self._stop = threading.Event()
        self._files: dict[str, _SeriesFile] = {}
        self._workers: list[_Worker] = []
        self._seen_errors: set[tuple[str, str]] = set()
        self._errors_lock = threading.Lock()
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SamplingRecorder:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("this SamplingRecorder was already started")
        self._started = True
        for sampler in self.samplers:
            series = self._files.get(sampler.name)
            if series is None:
                series = self._files[sampler.name] = _SeriesFile(self.run_dir / f"{sampler.name}.csv",
                                                                 list(sampler.columns))
            elif series.columns != list(sampler.columns):
                raise ValueError(f"samplers named {sampler.name!r} disagree on columns: "
                                 f"{series.columns} vs {list(sampler.columns)}")
            self._workers.append(_Worker(self, sampler, series))
        for worker in self._workers:
            self._open(worker)
        for worker in self._workers:
            worker.thread.start()

    def _open(self, worker: _Worker) -> None:
        """A sampler that holds a session (the DB probe) takes it now, before the drill starts the load."""
        open_ = getattr(worker.sampler, "open", None)
        if open_ is None:
            return
        try:
            open_()
        except Exception as exc:
            self._problem(worker.label, exc)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every sampler thread (waiting at most ``timeout`` in all), close samplers and files."""
        stopping = not self._stop.is_set()
        self._stop.set()
        stopped_at = self.clock.now()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            if worker.thread.is_alive():
                worker.thread.join(max(0.0, deadline - time.monotonic()))
            if worker.thread.is_alive():
                self.log(f"recorder: sampler {worker.label} did not stop within {timeout:g}s; left behind")
            if stopping:
                worker.finish(stopped_at)
        for sampler in self.samplers:
            try:
                sampler.close()
            except Exception as exc:
                self.log(f"recorder: closing sampler {getattr(sampler, 'label', sampler.name)} failed: {exc}")
        for series in self._files.values():
            series.close()
        self._files.clear()

    # ------------------------------------------------------------------ for the live view and the bench
    def stats(self) -> list[dict[str, object]]:
        """Per sampler: samples taken, failures, ticks with no row, CPU seconds spent on its thread."""
        return [{"sampler": w.label, "file": w.sampler.name, "samples": w.samples, "failures": w.failures,
                 "missed_ticks": w.gaps.missed, "cpu_s": round(w.cpu_s, 4)} for w in self._workers]

    def gaps(self) -> list[SamplerGap]:
        """Every run of ticks some sampler wrote no row for (a raise, or ticks skipped by a slow sample),
        in time order. Complete once the recorder is closed; while it runs, up to the latest tick."""
        gaps: list[SamplerGap] = []
        for worker in self._workers:
            with worker.gaps_lock:
                gaps += worker.gaps.gaps()
        return sorted(gaps, key=lambda g: (g.start, g.sampler))

    # ------------------------------------------------------------------ internals
    def _problem(self, label: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}".strip()
        key = (label, text)
        with self._errors_lock:
            if key in self._seen_errors:
                return
            self._seen_errors.add(key)
        self.log(f"recorder: {label}: {text} (retrying every {self.interval:g}s; logged once)")

    def _deliver(self, name: str, t: float, rows: list[dict[str, object]]) -> None:
        if self.on_rows is None:
            return
        try:
            self.on_rows(name, t, rows)
        except Exception as exc:
            self._problem(f"on_rows({name})", exc)


def build_samplers(stack: DockerStack, record: Record, docker_client: DockerClient) -> list[Sampler]:
    """The samplers that apply to a running stack, from every installed sampler kind (the built-ins
    too): a kind that is on by default runs unless ``record.<name>: false``; any other when the scenario
    names it under ``record.samplers`` (with its options, validated with the scenario)."""
    from faultdrill.plugins.api import SamplerTarget
    from faultdrill.plugins.registry import registry

    assert stack.info is not None, "build_samplers needs a started stack"
    target = SamplerTarget(stack, record, docker_client)
    samplers: list[Sampler] = []
    try:
        for name, options in enabled_sampler_kinds(record):
            samplers += registry().sampler_kind(name).samplers(target, options)
    except BaseException:
        for sampler in samplers:  # the resources sampler already follows Docker's stats streams
            sampler.close()
        raise
    return samplers


def enabled_sampler_kinds(record: Record) -> list[tuple[str, Any]]:
    """(name, validated options) of the sampler kinds this scenario's ``record`` turns on."""
    from faultdrill.plugins.registry import registry

    found = registry()
    chosen: list[tuple[str, Any]] = []
    for name, entry in found.samplers.items():
        if name in record.samplers:
            chosen.append((name, entry.obj.options_model.model_validate(record.samplers[name] or {})))
        elif entry.obj.default_on and getattr(record, name, True):
            chosen.append((name, entry.obj.options_model()))
    for name in record.samplers:
        if name not in found.samplers:
            found.sampler_kind(name)  # raises what to install
    return chosen


def recorder_for(stack: DockerStack, record: Record, docker_client: DockerClient, clock: RunClock,
                 run_dir: Path, on_rows: OnRows | None = None, log: Log = lambda _: None) -> SamplingRecorder:
    """The drill's one call: a ``SamplingRecorder`` over every sampler that applies to ``stack``."""
    return SamplingRecorder(build_samplers(stack, record, docker_client), clock, run_dir, record.interval,
                            on_rows=on_rows, log=log)
