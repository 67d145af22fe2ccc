"""A drill run: the one place where scenario, stack, faults, load, recorder and report meet.

It owns the run clock and the timeline. Whatever happens (a check failing, Ctrl-C, SIGTERM,
a broken image, a crash) it heals the faults, stops the load, removes the stack and writes
what it has: ``results/<run>/`` always ends up with its data and a (maybe partial) report.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from docker import DockerClient
from faultdrill.analysis.ingress import IngressRates
from faultdrill.analysis.live import AbortMonitor
from faultdrill.clock import RunClock
from faultdrill.errors import DrillAborted, ExitCode, FaultdrillError, InfraError, UsageError
from faultdrill.faults.actions import action_for
from faultdrill.faults.engine import FaultEngine, ScheduledFault
from faultdrill.faults.journal import Journal
from faultdrill.faults.recovery import dead_runs, mark_crashed, recover_pending
from faultdrill.histograms import LoadSecond, percentile_ms
from faultdrill.load.process import LoadProcess
from faultdrill.load.safety import host_problem
from faultdrill.recorder.events import EventLog
from faultdrill.recorder.gaps import summarize as summarize_gaps
from faultdrill.recorder.load_series import LoadSeriesWriter
from faultdrill.recorder.points import points_from_rows
from faultdrill.recorder.provenance import initial_record, write_json
from faultdrill.recorder.rundir import RunDir, new_run_id
from faultdrill.recorder.sampling import SamplingRecorder, build_samplers
from faultdrill.recorder.scenario_copy import write_scenario_copy
from faultdrill.report.summary import Report, render
from faultdrill.scenario.load_model import WorkerPool
from faultdrill.scenario.loader import LoadedScenario
from faultdrill.scenario.model import Scenario
from faultdrill.signals import interrupts_as_keyboard_interrupt
from faultdrill.stack.cleanup import clean
from faultdrill.stack.engine import connect, describe_engine
from faultdrill.stack.reaper import ReaperConfig, ReaperLink, absorb_records, live_reapers
from faultdrill.stack.stack import TOXIPROXY_ALIAS, DockerStack

TICK_S = 0.05


class Observer(Protocol):
    """How a drill tells its caller what is going on. Only the CLI knows the terminal."""

    def log(self, message: str) -> None: ...
    def started(self, run_id: str, run_dir: Path, duration: float) -> None: ...
    def second(self, t: int, users: int, rps: int, failures: int, p95_ms: float | None,
               active_faults: list[str]) -> None: ...


class SilentObserver:
    def log(self, message: str) -> None:
        pass

    def started(self, run_id: str, run_dir: Path, duration: float) -> None:
        pass

    def second(self, t: int, users: int, rps: int, failures: int, p95_ms: float | None,
               active_faults: list[str]) -> None:
        pass


@dataclass
class DrillOptions:
    results_dir: Path | None = None  # default: the scenario's record.results_dir, relative to cwd
    controller: Controller | None = None  # a game day's live view and control endpoint


@dataclass
class DrillOutcome:
    run_id: str
    run_dir: Path
    status: str  # completed | aborted | interrupted | failed
    exit_code: int
    report: Report | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)


def run_drill(loaded: LoadedScenario, options: DrillOptions | None = None,
              observer: Observer | None = None) -> DrillOutcome:
    options = options or DrillOptions()
    observer = observer or SilentObserver()
    scenario = loaded.scenario
    results = options.results_dir or Path(scenario.record.results_dir)
    run_id = new_run_id(scenario.name)
    run_dir = RunDir.create(results, run_id)
    write_scenario_copy(run_dir.scenario_copy, loaded)
    setup_clock = RunClock()
    events = EventLog(run_dir.events, setup_clock)
    record = _start_record(loaded, run_dir, setup_clock)
    observer.started(run_id, run_dir.path, scenario.duration)
    status, exit_code, error = "failed", int(ExitCode.INFRA), None
    problems: list[str] = []  # what run.json and the report say went wrong beside the verdict
    unhealed: list[str] = []  # faults that could not be healed: the run fails (exit 3)

    def on_repeat() -> None:
        observer.log("still cleaning up: faults are being healed and containers removed; please wait")

    reaper: ReaperLink | None = None
    with interrupts_as_keyboard_interrupt(on_repeat):
        try:
            client = connect()
            record["engine"] = describe_engine(client)
            reaper = _start_reaper(client, scenario, run_dir, time.time() - setup_clock.now(), observer)
            _recover_crashed_runs(client, results, run_id, observer, events)
            _on_stack(client, loaded, run_dir, record, events, observer, options, problems, unhealed, reaper)
            status, exit_code = "completed", int(ExitCode.OK)
            if unhealed:  # fail closed: the target may still be broken
                exit_code, error = int(ExitCode.INFRA), f"a fault could not be healed: {'; '.join(unhealed)}"
        except DrillAborted as exc:
            status, exit_code, error = "aborted", int(ExitCode.CHECK_FAILED), f"aborted: {exc}"
        except KeyboardInterrupt as exc:
            status, exit_code, error = "interrupted", int(ExitCode.INTERRUPTED), f"interrupted ({exc or 'SIGINT'})"
            events.emit("run.interrupted", reason=str(exc) or "SIGINT")
        except FaultdrillError as exc:
            status, exit_code, error = "failed", exc.exit_code, str(exc)
            events.emit("run.failed", error=str(exc))
        except Exception as exc:
            crash_log = run_dir.path / "crash.log"
            crash_log.write_text(traceback.format_exc(), encoding="utf-8")
            status, exit_code = "failed", int(ExitCode.INFRA)
            error = f"unexpected {type(exc).__name__}: {exc} (traceback in {crash_log})"
            events.emit("run.failed", error=error)
        finally:
            if reaper is not None:
                _finish_reaper(reaper, record, problems, events)
            record["problems"] = problems  # the report shows run.json's problems
            write_json(run_dir.run_json, record)
            report, exit_code, error = finish(run_dir, scenario, status, exit_code, error, problems)
            record.update(status=status, exit_code=exit_code, error=error, problems=problems,
                          ended=setup_clock.wall(setup_clock.now()))
            write_json(run_dir.run_json, record)
            _index_history(results, run_dir, record, problems)
            events.close()
    return DrillOutcome(run_id, run_dir.path, status, exit_code, report, error, problems)


def _on_stack(client: DockerClient, loaded: LoadedScenario, run_dir: RunDir, record: dict[str, Any], events: EventLog,
              observer: Observer, options: DrillOptions, problems: list[str], unhealed: list[str],
              reaper: ReaperLink | None) -> None:
    """The stack up (recorded in run.json, the reaper told where it is), the drill driven on it, the stack down."""
    events.emit("stack.starting")
    with DockerStack(client, loaded.scenario, loaded.base_dir, run_dir.run_id, observer.log) as stack:
        assert stack.info is not None and stack.addresses is not None
        record["stack"] = vars(stack.info)
        record["toxiproxy"] = {"kind": stack.info.toxiproxy_kind, "image": stack.info.toxiproxy_image}
        if reaper is not None:
            reaper.stack_up(stack.info.network, stack.info.toxiproxy_api, TOXIPROXY_ALIAS)
            record["reaper"] = reaper.describe()
        write_json(run_dir.run_json, record)
        events.emit("stack.ready", startup_s=stack.info.startup_seconds, toxiproxy=stack.info.toxiproxy_kind)
        _drive(loaded, run_dir, stack, events, observer, options.controller, problems, unhealed, reaper, record)
    events.emit("stack.removed")


def _index_history(results: Path, run_dir: RunDir, record: dict[str, Any], problems: list[str]) -> None:
    """Add the finished run to ``results/history.sqlite``. Never fails the run: a failure is a problem
    line (printed as a warning, kept in run.json) and ``faultdrill history`` indexes the run later."""
    from faultdrill.history.store import index_run

    problem = index_run(results, run_dir.path)
    if problem:
        problems.append(problem)
        record["problems"] = problems
        write_json(run_dir.run_json, record)


def _start_record(loaded: LoadedScenario, run_dir: RunDir, clock: RunClock) -> dict[str, Any]:
    """``run.json`` as the run starts: provenance, and who owns the run (for crash recovery)."""
    record = initial_record(run_id=run_dir.run_id, scenario_path=loaded.path, scenario_text=loaded.text,
                            scenario_data=loaded.scenario.model_dump(mode="json", by_alias=True),
                            started_wall=clock.wall(0), argv=[])
    record["owner"] = {"pid": os.getpid(), "hostname": socket.gethostname()}
    write_json(run_dir.run_json, record)
    return record


def _start_reaper(client: DockerClient, scenario: Scenario, run_dir: RunDir, started_wall: float,
                  observer: Observer) -> ReaperLink | None:
    """The reaper starts in the background, beside the stack: it heals and removes the run if we die."""
    config = ReaperConfig.resolve(scenario.reaper.enabled, scenario.reaper.grace)
    if not config.enabled:
        return None
    return ReaperLink(client, run_dir.run_id, run_dir.path, config, started_wall, observer.log).start()


def _finish_reaper(reaper: ReaperLink, record: dict[str, Any], problems: list[str], events: EventLog) -> None:
    """The run cleaned up after itself: the reaper is told so and goes. Its failure is said, never fatal."""
    reaper.finish()
    record["reaper"] = reaper.describe()
    events.emit("reaper.done", start_s=reaper.start_seconds, error=reaper.error)
    if reaper.error:
        problems.append(f"the reaper did not work ({reaper.error}): had this run been killed, its stack would "
                        "have stayed until `faultdrill clean`")


def finish(run_dir: RunDir, scenario: Scenario, status: str, exit_code: int, error: str | None,
           problems: list[str]) -> tuple[Report | None, int, str | None]:
    """Judge and write the report; the exit code follows the verdict. Fails closed: a report that
    cannot be written leaves the verdict unknown, so a run that completed exits 3, never 0."""
    try:
        report = render(run_dir, scenario, status)
    except Exception as exc:
        crash_log = run_dir.path / "crash.log"
        with open(crash_log, "a", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        problem = f"the report could not be written: {type(exc).__name__}: {exc} (traceback in {crash_log})"
        problems.append(problem)
        if exit_code == int(ExitCode.OK):
            return None, int(ExitCode.INFRA), f"{problem}; the verdict is unknown"
        return None, exit_code, error
    if status == "completed" and not report.passed and exit_code == int(ExitCode.OK):
        exit_code = int(ExitCode.CHECK_FAILED)
    return report, exit_code, error


def _recover_crashed_runs(client: DockerClient, results: Path, run_id: str, observer: Observer,
                          events: EventLog) -> None:
    """Heal faults and remove Docker objects that killed earlier runs left (their process is gone).

    What cannot be healed or removed is reported and does not stop this run."""
    for line in absorb_records(client, results):  # what reapers on a remote engine did
        observer.log(f"a killed run was reaped: {line}")
        events.emit("recovery", detail=line)
    reaping = live_reapers(client)  # their runs are being healed and removed by their own reaper: not ours
    for healing in recover_pending(results, only_dead=True, docker_client=client, skip=reaping):
        observer.log(f"{'warning: ' if healing.failed else ''}a fault left by a killed run: {healing.line()}")
        events.emit("recovery", detail=healing.line(), state=healing.state)
    for dead in dead_runs(results):
        if dead == run_id or dead in reaping:
            continue
        removed = clean(client, dead)
        mark_crashed(results, dead)
        if removed.total:
            observer.log(f"removed {removed.total} Docker objects left by the killed run {dead}")
            events.emit("recovery", run=dead, removed=removed.containers + removed.networks)
        for failure in removed.failed:
            observer.log(f"warning: could not remove what the killed run {dead} left: {failure}")
            events.emit("recovery", run=dead, failed=failure)


@dataclass
class LiveDrill:
    """What a controller (a game day's live view and control endpoint) may see and steer.

    Controllers run their commands from ``tick``, on the drill's own thread, so the fault engine
    is only ever driven from one thread.
    """

    scenario: Scenario
    run_dir: RunDir
    clock: RunClock
    engine: FaultEngine
    events: EventLog
    duration: float
    stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason


class Controller(Protocol):
    def attach(self, live: LiveDrill) -> None: ...
    def tick(self) -> None: ...
    def on_second(self, second: LoadSecond) -> None: ...
    def on_samples(self, t: float, points: dict[str, float | None]) -> None: ...
    def close(self) -> None: ...


def _drive(loaded: LoadedScenario, run_dir: RunDir, stack: DockerStack, events: EventLog, observer: Observer,
           controller: Controller | None, problems: list[str], unhealed: list[str],
           reaper: ReaperLink | None = None, record: dict[str, Any] | None = None) -> None:
    """Load + faults on the run clock; never leaves a fault applied. Faults that could not be healed
    go into ``unhealed`` and sampler gaps into ``problems`` as they are known — also when the drill
    is aborted or interrupted (both lists belong to the caller)."""
    scenario = loaded.scenario
    assert stack.addresses is not None
    host = stack.addresses.resolve(scenario.load.host)
    refusal = host_problem(host, scenario.load.allow_hosts)
    if refusal:
        raise UsageError(refusal)
    load = LoadProcess(duration=scenario.duration, host=host, journeys=_journeys(loaded), load=scenario.load,
                       log_path=run_dir.locust_log, on_worker=worker_news(events, observer))
    if load.join_command is not None:
        pool = scenario.load.pool
        observer.log(f"waiting up to {pool.wait:g}s for {pool.remote} remote load worker(s); on each load "
                     f"machine run: {load.join_command}")
    try:
        with load:  # prepared: Locust imported, users built, workers in
            _on_run_clock(loaded, run_dir, stack, events, observer, controller, load, host, problems, unhealed,
                          reaper)
    finally:
        if record is not None:
            record_workers(record, problems, scenario.load.pool, load)


def worker_news(events: EventLog, observer: Observer) -> Callable[[dict[str, Any]], None]:
    """A load worker joined or was lost: an event on the timeline (and a line for whoever watches)."""
    def on_worker(news: dict[str, Any]) -> None:
        kind = f"worker.{news.get('event')}"
        fields = {("lost_at" if k == "t" else k): v for k, v in news.items()
                  if k not in ("type", "event") and v is not None}
        events.emit(kind, **fields)
        if news.get("event") == "lost":
            observer.log(f"load worker {news.get('worker')} ({news.get('host')}) lost at t={news.get('t')}s: "
                         f"{news.get('why')}; the drill runs degraded")
    return on_worker


def record_workers(record: dict[str, Any], problems: list[str], pool: WorkerPool, load: LoadProcess) -> None:
    """run.json's ``load_workers``: who took part, each remote clock's offset, who was lost."""
    if pool.local + pool.remote <= 1 and not pool.remote:
        return
    lost = load.lost_workers
    record["load_workers"] = {"local": pool.local, "remote": pool.remote, "listen": pool.listen if pool.remote else None,
                              "workers": load.workers_report, "lost": len(lost)}
    record["degraded"] = bool(lost)
    for news in lost:
        problems.append(f"load worker {news.get('worker')} ({news.get('host')}) was lost at t={news.get('t')}s "
                        f"({news.get('why')}): the drill ran degraded")


def _on_run_clock(loaded: LoadedScenario, run_dir: RunDir, stack: DockerStack, events: EventLog,
                  observer: Observer, controller: Controller | None, load: LoadProcess, host: str,
                  problems: list[str], unhealed: list[str], reaper: ReaperLink | None = None) -> None:
    """The run on its clock, which starts once the load is prepared and the samplers are built (both
    take a while): second 0 is a full second of load, recorded from its start."""
    scenario = loaded.scenario
    monitor = AbortMonitor.from_scenario(scenario.abort, scenario.checks, scenario.record.interval)

    ingress_rates = IngressRates(scenario.record.interval)

    def on_rows(file_stem: str, t: float, rows: list[dict[str, Any]]) -> None:
        points = points_from_rows(file_stem, rows)
        if file_stem == "ingress":
            points.update(ingress_rates.add(t, points))
        for metric, value in points.items():
            monitor.observe_sample(metric, t, value)
        if controller is not None:
            controller.on_samples(t, points)

    samplers = build_samplers(stack, scenario.record, stack.client)
    try:
        clock = RunClock()
        events.clock = clock
        if reaper is not None:  # its record says when on the run clock the harness was lost
            reaper.clock_started(time.time() - clock.now())
        journal = Journal(run_dir.journal, tee=reaper.journal if reaper is not None else None)  # the reaper's copy
        engine = FaultEngine([ScheduledFault(f, action_for(f, scenario, stack.toxiproxy, stack.containers))
                              for f in scenario.faults], journal, events, clock.now)
    except BaseException:
        for sampler in samplers:  # the resources sampler already follows Docker's stats streams
            sampler.close()
        raise
    live = LiveDrill(scenario, run_dir, clock, engine, events, scenario.duration)
    recorder = SamplingRecorder(samplers, clock, run_dir.path, scenario.record.interval, on_rows=on_rows,
                                log=observer.log)
    try:
        _record(recorder, load, live, observer, controller, monitor, host, unhealed)
    finally:
        problems += summarize_gaps(recorder.gaps())  # ticks a sampler wrote no row for, one line per sampler


def _record(recorder: SamplingRecorder, load: LoadProcess, live: LiveDrill, observer: Observer,
            controller: Controller | None, monitor: AbortMonitor, host: str, unhealed: list[str]) -> None:
    """The run itself: recorder and load on, the timeline ticking, every fault healed at the end."""
    run_dir, engine, events, clock, duration = live.run_dir, live.engine, live.events, live.clock, live.duration
    warned: set[str] = set()
    with recorder, LoadSeriesWriter(run_dir.timeseries, run_dir.requests, run_dir.histograms, clock) as writer:
        def on_second(second: LoadSecond) -> None:
            writer.write(second)
            monitor.observe_load(second)
            engine.observe_load(second)
            if controller is not None:
                controller.on_second(second)
            for warning in second.warnings:
                events.emit("load.warning", second=second.t, warning=warning)
                if warning.split(":")[0] not in warned:
                    warned.add(warning.split(":")[0])
                    observer.log(f"load generator: {warning} (the drill may under-deliver its shape)")
            total = second.total()
            observer.second(second.t, second.users, total.count, total.failures,
                            percentile_ms(total.ok_hist, 95), engine.shown_active_names())

        try:
            if controller is not None:
                controller.attach(live)
            events.emit("run.start", duration=duration, host=host)
            with load.running(on_second, clock.t0):
                while clock.now() < duration and live.stop_reason is None:
                    if monitor.fired is not None:
                        reason = monitor.fired
                        events.emit("run.aborted", rule=reason.rule, metric=reason.metric, since=reason.since,
                                    detail=reason.detail)
                        observer.log(f"aborting the drill: {reason.detail}")
                        engine.heal_all(reason="aborted")  # what fails here is retried at teardown
                        raise DrillAborted(reason.detail)
                    engine.tick()
                    if controller is not None:
                        controller.tick()
                    if not load.alive:
                        raise InfraError(load.error or "the load generator stopped early",
                                         hint=f"see {run_dir.locust_log}")
                    time.sleep(TICK_S)
                if live.stop_reason is not None:
                    events.emit("run.stopped", reason=live.stop_reason)
                engine.heal_all(reason="drill ended")
                load.stop()
                if load.error is not None:  # its last seconds could not be recorded: never a silent gap
                    raise InfraError(load.error, hint=f"see {run_dir.locust_log}")
            events.emit("run.end")
        finally:
            unhealed += engine.heal_all(reason="teardown")
            engine.journal.close()
            if controller is not None:
                controller.close()


def _journeys(loaded: LoadedScenario) -> str:
    journeys = loaded.scenario.load.journeys
    if journeys.startswith(("builtin:", "pack:")):
        return journeys
    return str((loaded.base_dir / journeys).resolve())
