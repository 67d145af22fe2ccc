"""The command line: parse, call the library, map errors to exit codes. Nothing else.

Exit codes: 0 all checks passed · 1 a check failed · 2 invalid scenario or usage ·
3 infrastructure error · 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from faultdrill import __version__
from faultdrill.errors import ExitCode, FaultdrillError, UsageError
from faultdrill.scenario.docker_options import BuildOptions
from faultdrill.terminal import ConsoleObserver, console, out, print_outcome

if TYPE_CHECKING:  # the CLI imports the library lazily, per command, to start fast
    from docker import DockerClient
    from faultdrill.drill import DrillOutcome
    from faultdrill.stack.stack import DockerStack


# --------------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace) -> int:
    from faultdrill.drill import DrillOptions, run_drill
    from faultdrill.scenario import load_scenario

    loaded = load_scenario(args.scenario)
    outcome = run_drill(loaded, DrillOptions(results_dir=args.results), ConsoleObserver())
    return _report_outcome(outcome)


def _report_outcome(outcome: DrillOutcome) -> int:
    print_outcome(outcome)
    return outcome.exit_code


def cmd_validate(args: argparse.Namespace) -> int:
    from faultdrill.errors import ScenarioError
    from faultdrill.scenario import load_scenario

    worst = 0
    for path in args.scenarios:
        try:
            loaded = load_scenario(path)
        except ScenarioError as exc:
            console.print(str(exc), markup=False)
            worst = ExitCode.INVALID
            continue
        s = loaded.scenario
        out.print(f"{path}: ok — {len(s.stack.services)} services, {len(s.proxies)} proxies, "
                  f"{len(s.faults)} faults, {len(s.checks)} checks, {s.duration:g}s", markup=False)
    return worst


def cmd_list(args: argparse.Namespace) -> int:
    from faultdrill.plugins.listing import describe, render
    from faultdrill.plugins.registry import registry

    found = registry()
    found.check_self()
    listing = describe(found)
    out.print(json.dumps(listing, indent=2) if args.json else render(listing), markup=False, soft_wrap=True)
    return ExitCode.OK


def cmd_up(args: argparse.Namespace) -> int:
    from faultdrill.recorder.rundir import new_run_id
    from faultdrill.scenario import load_scenario
    from faultdrill.stack.engine import connect
    from faultdrill.stack.stack import DockerStack

    loaded = load_scenario(args.scenario)
    run_id = "up-" + new_run_id(loaded.scenario.name)
    log = (lambda _m: None) if args.json else ConsoleObserver().log
    stack = DockerStack(connect(), loaded.scenario, loaded.base_dir, run_id, log)
    with stack:
        assert stack.info is not None and stack.addresses is not None
        info = vars(stack.info) | {"endpoints": _endpoints(stack)}
        stack.detach()
    if args.json:
        out.print_json(json.dumps(info))
    else:
        out.print(f"stack {run_id} is up (remove it with: faultdrill down {run_id})", markup=False)
        for name, url in info["endpoints"].items():
            out.print(f"  {name:<24} {url}", markup=False)
    return 0


def _endpoints(stack: DockerStack) -> dict[str, str]:
    assert stack.info is not None and stack.addresses is not None, "the stack is up"
    endpoints = {}
    for name, svc in stack.info.services.items():
        for container_port, host_port in svc["ports"].items():
            endpoints[f"service.{name}:{container_port}"] = f"127.0.0.1:{host_port}"
    dialled = {w["proxy"]: w["address"] for w in stack.info.wiring if w["transparent"]}  # names a proxy took
    for name, proxy in stack.addresses.proxies.items():
        inside = dialled.get(name, f"toxiproxy:{proxy.listen_port}")
        endpoints[f"proxy.{name}"] = f"127.0.0.1:{proxy.host_port} (in the stack: {inside})"
    if stack.info.toxiproxy_api:
        endpoints["toxiproxy.api"] = stack.info.toxiproxy_api
    return endpoints


def cmd_down(args: argparse.Namespace) -> int:
    from faultdrill.stack.cleanup import clean, leftovers
    from faultdrill.stack.engine import connect

    client = connect()
    run_ids = [args.run_id] if args.run_id else sorted(
        {c for c in _up_runs(client)})
    if not run_ids:
        out.print("no stack started with `faultdrill up` is running")
        return 0
    for run_id in run_ids:
        if not leftovers(client, run_id).total:
            raise UsageError(f"no stack with run id {run_id!r}", hint="`docker ps --filter label=faultdrill.run`")
        done = clean(client, run_id)
        out.print(f"removed {run_id}: {len(done.containers)} containers, {len(done.networks)} networks")
    return 0


def _up_runs(client: DockerClient) -> set[str]:
    from faultdrill.stack import labels

    return {c.labels[labels.RUN] for c in client.containers.list(all=True, filters={"label": labels.RUN})
            if c.labels[labels.RUN].startswith("up-")}


def cmd_clean(args: argparse.Namespace) -> int:
    """Heal every journaled fault it can, remove every labelled object anyway; exit 3 naming what is left."""
    from faultdrill.faults.recovery import dead_runs, heal_journal, mark_crashed, recover_pending
    from faultdrill.stack.cleanup import clean
    from faultdrill.stack.engine import connect
    from faultdrill.stack.reaper import absorb_records, reaped_summary

    client = connect()
    for line in _wait_for_reapers(client, args) + absorb_records(client, args.results):
        out.print(line, markup=False)
    if args.run and (reaped := reaped_summary(args.results / args.run)):
        out.print(f"{args.run}: {reaped}", markup=False)
    healings = (heal_journal(args.results / args.run / "journal.jsonl", client) if args.run
                else recover_pending(args.results, docker_client=client))
    for healing in healings:
        out.print(healing.line(), markup=False)
    for run_id in dead_runs(args.results):
        if args.run in (None, run_id):
            mark_crashed(args.results, run_id)
    done = clean(client, args.run)
    out.print(f"removed {len(done.containers)} containers, {len(done.networks)} networks, "
              f"{len(done.volumes)} volumes labelled faultdrill.run{'=' + args.run if args.run else ''}")
    for name in done.containers + done.networks + done.volumes:
        out.print(f"  {name}", markup=False)
    for failure in done.failed:
        out.print(f"could not remove: {failure}", markup=False)
    for run_id, owner in sorted(done.live.items()):
        out.print(f"left alone: {run_id}, whose drill is still running ({owner}); `faultdrill clean --run "
                  f"{run_id}` removes it anyway", markup=False)
    left = [f"{h.run_id}: {h.what}" for h in healings if h.failed] + done.failed
    if not left:
        return 0
    console.print("error:", style="red", end=" ")
    console.print(f"{len(left)} thing(s) could not be healed or removed: {'; '.join(left)} — fix the cause "
                  "(see the lines above) and run `faultdrill clean` again", markup=False)
    return int(ExitCode.INFRA)


def _wait_for_reapers(client: DockerClient, args: argparse.Namespace) -> list[str]:
    """A reaper still at work on a run (in its grace period, or reaping) finishes first: no double work."""
    from faultdrill.faults.recovery import run_is_dead
    from faultdrill.stack.reaper import live_reapers, reaped_summary, wait_for_reapers

    busy = {r for r in live_reapers(client)  # a live run's reaper is only waiting: not ours to wait for
            if args.run in (None, r) and (args.results / r).is_dir() and run_is_dead(args.results / r)}
    if not busy:
        return []
    out.print(f"waiting for the reaper of {', '.join(sorted(busy))} (it heals and removes what the run left)",
              markup=False)
    still = wait_for_reapers(client, busy, timeout=120)
    lines = [f"{r}: {reaped_summary(args.results / r) or 'the reaper ended without a record'}"
             for r in sorted(busy - still)]
    return lines + [f"{r}: its reaper is still at work after 120 s; cleaning it up here" for r in sorted(still)]


def cmd_images_build(args: argparse.Namespace) -> int:
    from faultdrill.scenario import load_scenario
    from faultdrill.stack import images
    from faultdrill.stack.engine import connect

    client = connect()
    log = ConsoleObserver().log
    images.ensure_base(client, log)
    paths = args.scenarios or sorted(Path("scenarios").glob("*.yaml"))
    builds: dict[tuple[Path, str, bool], tuple[Path, BuildOptions | None, bool]] = {}  # one build per context and options, as the run would build it
    toxiproxy_settings = None
    for path in paths:
        missing = [] if args.scenarios else _missing_requirements(path)
        if missing:  # all bundled scenarios: one that needs an extension this install lacks is not an error
            out.print(f"skipped {path}: it requires {', '.join(missing)} (not installed)", markup=False)
            continue
        loaded = load_scenario(path)
        as_written = loaded.scenario.stack.source is not None  # a compose file's build: the user's, as written
        for s in loaded.scenario.stack.services.values():
            if s.build:
                ctx, options = (loaded.base_dir / s.build).resolve(), s.docker.build if s.docker else None
                builds.setdefault((ctx, repr(options), as_written), (ctx, options, as_written))
        toxiproxy_settings = toxiproxy_settings or (loaded.scenario.toxiproxy if loaded.scenario.proxies else None)
    for ctx, options, as_written in builds.values():
        tag = images.ensure_service_image(client, ctx, options, as_written, log)
        out.print(f"{ctx} → {tag}", markup=False)
    if toxiproxy_settings is not None:
        tp = images.ensure_toxiproxy(client, toxiproxy_settings.server, toxiproxy_settings.official_image, log)
        out.print(f"toxiproxy ({tp.kind}) → {tp.image}", markup=False)
    from faultdrill.stack.reaper import ensure_image

    out.print(f"reaper → {ensure_image(client, log)}", markup=False)
    return 0


def _missing_requirements(path: Path) -> list[str]:
    import yaml

    from faultdrill.plugins.registry import installed

    try:
        requires = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("requires") or []
    except (OSError, yaml.YAMLError, AttributeError):
        return []  # load_scenario says what is wrong with it
    return [str(r) for r in requires if not installed(str(r))] if isinstance(requires, list) else []


def cmd_demo(args: argparse.Namespace) -> int:
    """The seed's first incident on the bundled stack. Its checks are meant to fail: that is the outage."""
    from faultdrill.drill import DrillOptions, run_drill
    from faultdrill.paths import bundled_scenario
    from faultdrill.scenario import load_scenario

    path = bundled_scenario(args.drill)
    console.print(f"demo: {path.name} — a ticket sale, a sign-up surge and a failing mail provider", markup=False)
    outcome = run_drill(load_scenario(path), DrillOptions(results_dir=args.results), ConsoleObserver())
    code = _report_outcome(outcome)
    report = outcome.run_dir / "report.html"
    if outcome.status != "completed":
        return code
    out.print(f"\nreport: {report}", markup=False)
    if code == int(ExitCode.CHECK_FAILED) and args.drill == "ticketing-mail-outage":
        out.print("The checks failed the way the real outage did. Now run the fix:\n"
                  f"  faultdrill run {path.with_name('ticketing-mail-outage-fixed.yaml')}", markup=False)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from faultdrill.report.summary import exit_code_for, render_run

    report = render_run(Path(args.run_dir))  # UsageError (exit 2) if not a run directory
    for path in report.files.values():
        out.print(f"wrote {path}", markup=False)
    for problem in report.problems:
        console.print("warning:", style="yellow", end=" ")
        console.print(problem, markup=False)
    code, why = exit_code_for(report.summary)
    console.print(f"run {report.summary['run_id']}: {why}", markup=False)
    return int(code)


def cmd_compare(args: argparse.Namespace) -> int:
    from faultdrill.report.compare import compare_runs

    if len(args.runs) < 2:
        raise UsageError("compare needs at least two run directories",
                         hint="faultdrill compare RUN_A RUN_B, or BASELINE... RUN_B for a noise-aware gate")
    *baselines, run_b = args.runs
    result = compare_runs(baselines[-1], run_b, args.fail_if, out_dir=args.out, more_baselines=baselines[:-1])
    for gate in result.gates:
        console.print("  TRIPPED " if gate.tripped else "  held ", style="red" if gate.tripped else "green", end="")
        console.print(f"{gate.gate.text}: {gate.reason}", markup=False)
    if "png" in result.files:
        out.print(f"wrote {result.files['png']} (incident vs fix: both runs' story figures overlaid)", markup=False)
    out.print(f"wrote {result.files['html']}", markup=False)
    return int(ExitCode.CHECK_FAILED) if result.failed else 0


def cmd_history(args: argparse.Namespace) -> int:
    from faultdrill.history.trend import history, trend_lines

    trend = history(args.results, args.scenario, args.check, args.last, args.fail_if, args.png)
    for note in trend.notes:
        console.print(f"note: {note}", markup=False)
    for line in trend_lines(trend):
        out.print(line, markup=False)
    for verdict in trend.verdicts:
        console.print("  TRIPPED " if verdict.tripped else "  held ", style="red" if verdict.tripped else "green", end="")
        console.print(f"{verdict.gate.text}: {verdict.reason}", markup=False)
    if trend.png:
        out.print(f"wrote {trend.png} (trend of the last {len(trend.runs)} runs)", markup=False)
    return int(ExitCode.CHECK_FAILED) if trend.failed else 0


def cmd_gameday(args: argparse.Namespace) -> int:
    from faultdrill.console.access import parse_listen
    from faultdrill.console.live import ConsoleSettings, check_hideable, check_listen
    from faultdrill.gameday.session import run_gameday
    from faultdrill.scenario import load_scenario

    web = None if args.no_console else ConsoleSettings(*parse_listen(args.listen))
    if web is not None:
        check_listen(web)
    loaded = load_scenario(args.scenario)
    if web is not None:
        check_hideable(loaded.scenario, str(args.scenario))
    view = False if args.no_view else None
    observer = ConsoleObserver(every=10**9 if view is None and console.is_terminal else 5)
    outcome, retro = run_gameday(loaded, args.results, observer, console, view, web)
    code = _report_outcome(outcome)
    if retro is not None:
        console.print(f"retrospective draft: {retro}", markup=False)
    return code


def cmd_control(args: argparse.Namespace) -> int:
    from faultdrill.gameday.control import ControlClient

    client = ControlClient.for_run(args.results, args.run_id)
    if args.command in ("inject", "heal", "reveal"):
        answer = client.fault(args.command, args.fault)
    elif args.command == "annotate":
        answer = client.annotate(args.kind, " ".join(args.text))
    elif args.command == "stop":
        answer = client.stop()
    else:
        answer = client.state()
    out.print_json(json.dumps(answer))
    return 0


def cmd_toxiproxy_serve(args: argparse.Namespace) -> int:
    from faultdrill.toxiproxy_server.__main__ import main

    return main(["--host", args.host, "--port", str(args.port), "--processes", args.processes],
                prog="faultdrill toxiproxy serve")


def cmd_export_kubernetes(args: argparse.Namespace) -> int:
    from faultdrill.export.kubernetes import PLACEHOLDER_MASTER, export, master_address, not_mapped, write
    from faultdrill.scenario import load_scenario
    from faultdrill.stack.images import build_tag

    loaded = load_scenario(args.scenario)

    def image_of(_name: str, service: object) -> str:
        image, build = getattr(service, "image", None), getattr(service, "build", None)
        return image if image else build_tag(loaded.base_dir / str(build))

    manifests = export(loaded.scenario, image_of, master=args.master, workers=args.workers)
    out = args.out or Path(f"k8s-{loaded.scenario.name}")
    for path in write(manifests, out):
        out_print(f"wrote {path}")
    for line in not_mapped(loaded.scenario):
        out_print(f"  note: {line}")
    master = master_address(loaded.scenario, args.master)
    if master.startswith(PLACEHOLDER_MASTER):
        out_print(f"  note: the workers dial {master}, a placeholder: pass --master HOST:PORT, an address of the "
                  "drill's host that the pods reach")
    out_print(f"{len(manifests)} objects; apply with: kubectl apply -f {out}  (push the images first: docs/scale.md)")
    return ExitCode.OK


def out_print(line: str) -> None:
    out.print(line, markup=False)


def cmd_worker(args: argparse.Namespace) -> int:
    """Become a load worker (Locust's gevent patching stays out of this process: exec a fresh one)."""
    from faultdrill.load.join import TOKEN_ENV, split_master

    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError("faultdrill worker needs the drill's token",
                         hint=f"--token T, or {TOKEN_ENV} (the drill prints it while it waits for workers)")
    if split_master(args.master) is None:
        raise UsageError(f"--master must be HOST:PORT, got {args.master!r}", hint="e.g. --master 10.0.0.5:5557")
    env = {**os.environ, TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}
    os.execve(sys.executable, [sys.executable, "-m", "faultdrill.load.remote_worker", "--master", args.master,
                               "--wait", str(args.wait)], env)
    return ExitCode.INFRA  # not reached


# --------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


def cmd_init(args: argparse.Namespace) -> int:
    from faultdrill.scenario.compose import init_from_compose

    result = init_from_compose(args.compose, args.out, force=args.force)
    out.print(f"wrote {result.scenario_path} and {result.locustfile_path}", markup=False)
    out.print("inferred:", markup=False)
    for line in result.plan.inferred:
        out.print(f"  - {line}", markup=False)
    out.print("look at:", markup=False)
    for line in result.plan.look_at:
        out.print(f"  - {line}", markup=False)
    out.print(f"then: faultdrill validate {result.scenario_path} && faultdrill run {result.scenario_path}", markup=False)
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    # Long on purpose: a flat table of every command and its options, one block each, read top to
    # bottom like the --help it produces; split up, the CLI's surface would no longer be in one place.
    parser = _Parser(prog="faultdrill", description=(
        "Rehearse outages before they happen: start a stack in Docker, put Toxiproxy between its "
        "services, drive Locust load, inject faults on a timeline, record second by second, judge checks."),
        epilog="exit codes: 0 passed · 1 a check failed · 2 invalid scenario or usage · "
               "3 infrastructure error · 130 interrupted")
    parser.add_argument("--version", action="version", version=f"faultdrill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str, **kw: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=kw.get("description", help_))
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "run a drill: stack up, load, faults, record, judge, report, tear down",
            description="Run the drill a scenario file describes. Results go to results/<run id>/ "
                        "(timeseries.csv, events.jsonl, run.json, summary.json, latency.png).")
    p.add_argument("scenario", type=Path, help="scenario file, e.g. scenarios/smoke.yaml")
    p.add_argument("--results", type=Path, default=None, help="results directory (default: the scenario's, ./results)")

    p = add("init", cmd_init, "write a starting scenario for a docker-compose.yml",
            description="Infer a drill from a compose file: its services, a transparent proxy per dependency, "
                        "load on the first published HTTP port, one latency fault per proxy, checks.")
    p.add_argument("--compose", type=Path, required=True, metavar="FILE", help="the stack's docker-compose.yml")
    p.add_argument("--out", type=Path, default=None, help="scenario file to write (default: ./<project>-drill.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite the files if they exist")

    p = add("validate", cmd_validate, "check scenario files without starting anything")
    p.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")

    p = add("list", cmd_list, "installed fault kinds, samplers and journey packs, with the fields a scenario writes",
            description="What this installation can run: the built-ins and every installed extension "
                        "(entry points faultdrill.faults, faultdrill.samplers, faultdrill.journeys).")
    p.add_argument("--json", action="store_true", help="as JSON")

    p = add("up", cmd_up, "start a scenario's stack and proxies, print the endpoints, and leave it running",
            description="Start the stack for poking at by hand. Remove it with `faultdrill down`.")
    p.add_argument("scenario", type=Path)
    p.add_argument("--json", action="store_true", help="print the endpoints as JSON")

    p = add("down", cmd_down, "remove a stack started with `faultdrill up`")
    p.add_argument("run_id", nargs="?", help="the run id `up` printed (default: every `up` stack)")

    p = add("clean", cmd_clean, "heal faults and remove every container/network/volume a crashed run left",
            description="Reverts faults whose runs were killed (from results/*/journal.jsonl) and removes "
                        "Docker objects labelled faultdrill.run.")
    p.add_argument("--run", default=None, help="only this run id")
    p.add_argument("--results", type=Path, default=Path("results"), help="where run directories are")

    images = add("images", lambda a: _missing(a, "images"), "manage the stack images")
    images_sub = images.add_subparsers(dest="images_command", metavar="SUBCOMMAND", parser_class=_Parser)
    p = images_sub.add_parser("build", help="build the base image and every image the scenarios need",
                              description="Build the base (debian:bookworm-slim, or a local debootstrap when "
                                          "no registry answers), Toxiproxy, and the scenarios' images.")
    p.add_argument("scenarios", nargs="*", type=Path, metavar="SCENARIO", help="default: scenarios/*.yaml")
    p.set_defaults(func=cmd_images_build)

    p = add("demo", cmd_demo, "run the bundled demo drill (the seed's ticketing outage) and point to its report",
            description="Runs scenarios/ticketing-mail-outage.yaml on the bundled demo stack (about 2.5 minutes "
                        "once images exist; the first run builds them). Its checks fail by design — that is the "
                        "outage being reproduced — so the demo exits 0 when the drill itself ran.")
    p.add_argument("--drill", default="ticketing-mail-outage", help="another bundled drill, e.g. ci-smoke")
    p.add_argument("--results", type=Path, default=None)

    p = add("gameday", cmd_gameday, "run a drill live: a view to watch, keys and a control endpoint to steer",
            description="A game day: the drill runs with a live terminal view (keys: select a fault 1-9, "
                        "i inject, h heal, r reveal; d/a/s/m/v mark detected/alerted/assessed/mitigated/resolved; "
                        "q end). A second terminal can use `faultdrill inject|heal|reveal|annotate|stop RUN_ID`. "
                        "Also serves a web console (facilitator and responder links printed at the start; "
                        "--listen to share it). Ends with retrospective.md and timeline.html in the run directory.")
    p.add_argument("scenario", type=Path)
    p.add_argument("--results", type=Path, default=None)
    p.add_argument("--no-view", action="store_true", help="no live view (e.g. steered only from another terminal)")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="ADDR:PORT",
                   help="where the web console listens (default 127.0.0.1, a free port); a team network address "
                        "to share it, e.g. 10.0.0.5:8800 — always behind the run's two tokens")
    p.add_argument("--no-console", action="store_true", help="no web console")

    for verb, help_ in (("inject", "start a fault in a live drill"), ("heal", "heal a fault in a live drill"),
                        ("reveal", "reveal a hidden fault's name to responders")):
        p = add(verb, cmd_control, help_)
        p.add_argument("run_id")
        p.add_argument("fault", help="the fault's name (or its number in the live view)")
        p.add_argument("--results", type=Path, default=Path("results"))
    p = add("annotate", cmd_control, "stamp a responder's mark on the run clock")
    p.add_argument("run_id")
    p.add_argument("kind", choices=["detected", "alerted", "hypothesis", "assessed", "mitigated", "resolved", "note"])
    p.add_argument("text", nargs="*", help="free text")
    p.add_argument("--results", type=Path, default=Path("results"))
    for verb, help_ in (("stop", "end a live drill (heal, tear down, report)"), ("status", "a live drill's state as JSON")):
        p = add(verb, cmd_control, help_)
        p.add_argument("run_id")
        p.add_argument("--results", type=Path, default=Path("results"))

    p = add("compare", cmd_compare, "compare run B against run A: deltas per window and check, overlaid "
            "latency, regression gates")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN",
                   help="RUN_A RUN_B: the reference run, then the candidate. Several reference runs before "
                        "RUN_B (BASELINE... RUN_B) make the gates noise-aware: RUN_B against their median and "
                        "spread (MAD); deltas and plots are against the last reference")
    p.add_argument("--fail-if", action="append", default=[], metavar="GATE",
                   help="METRIC[@WINDOW]:±N[%%|ms], e.g. p95:+20%%, p99@recovery:+50ms, error_rate:+0.01, "
                        "rps@fault:-10%%; exit 1 if B is worse")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: RUN_B/compare-<RUN_A id>)")

    p = add("history", cmd_history, "the trend of a scenario's runs: a table, a plot, noise-aware gates",
            description="Every run is indexed in RESULTS/history.sqlite (rebuilt from the run directories when "
                        "missing or corrupt). Prints one row per run (when, git sha, status, check values) and "
                        "writes a trend PNG. With --fail-if, the newest run is judged against the median and "
                        "spread (MAD) of the runs before it: exit 1 only when it is beyond the bound AND outside "
                        "the noise band.")
    p.add_argument("scenario", nargs="?", default=None, metavar="SCENARIO",
                   help="scenario name (default: the newest run's)")
    p.add_argument("--check", default=None, metavar="NAME", help="only this check's values")
    p.add_argument("--last", type=int, default=10, metavar="N",
                   help="the last N runs (default 10); a gate judges the newest against the N-1 before it")
    p.add_argument("--results", type=Path, default=Path("results"), help="where run directories are (default ./results)")
    p.add_argument("--fail-if", action="append", default=[], metavar="GATE",
                   help="METRIC[@WINDOW]:±N[%%|ms] (p95:+20%%, error_rate@fault:+0.01, rps:-10%%) or "
                        "check=NAME:±N[%%]; exit 1 when the newest run is beyond it and outside the noise band")
    p.add_argument("--png", type=Path, default=None, help="trend plot to write (default RESULTS/history-<scenario>.png)")

    p = add("worker", cmd_worker, "join a drill from this machine as a load worker (load.workers.remote)",
            description="Join a drill's load from this machine: the drill ships its journeys and run config, "
                        "checks versions and the token, and this machine's clock offset is measured. Exit codes: "
                        "0 took part · 2 refused (token, versions, target not allowed) · 3 no drill answered.")
    p.add_argument("--master", required=True, metavar="HOST:PORT", help="the drill's load.workers.listen address")
    p.add_argument("--token", default=None, help="the drill's worker token (or FAULTDRILL_WORKER_TOKEN)")
    p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the drill to answer (default 120)")

    export_cmd = add("export", lambda a: _missing(a, "export"), "write a drill out for another platform")
    export_sub = export_cmd.add_subparsers(dest="export_command", metavar="SUBCOMMAND", parser_class=_Parser)
    p = export_sub.add_parser("kubernetes", help="the target stack, Toxiproxy and load workers as Kubernetes manifests",
                              description="Deployments and Services for the stack, Toxiproxy taking over each "
                                          "proxied dependency's Service name, and faultdrill worker pods joining "
                                          "the drill's master (docs/scale.md).")
    p.add_argument("scenario", type=Path)
    p.add_argument("--out", type=Path, default=None, help="directory to write (default ./k8s-<scenario>)")
    p.add_argument("--master", default=None, metavar="HOST:PORT", help="where workers find the drill's master")
    p.add_argument("--workers", type=int, default=None, help="worker pods (default: load.workers.remote, or 1)")
    p.set_defaults(func=cmd_export_kubernetes)

    p = add("report", cmd_report, "re-render summary.json and plots from a run directory")
    p.add_argument("run_dir", type=Path)

    tp = add("toxiproxy", lambda a: _missing(a, "toxiproxy"), "faultdrill's Toxiproxy-compatible server")
    tp_sub = tp.add_subparsers(dest="toxiproxy_command", metavar="SUBCOMMAND", parser_class=_Parser)
    p = tp_sub.add_parser("serve", help="serve the Toxiproxy API (for hosts that cannot pull the official image)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8474)
    p.add_argument("--processes", default="auto",
                   help="processes that carry connections (default auto: one per usable CPU, at most 4)")
    p.set_defaults(func=cmd_toxiproxy_serve)
    return parser


def _missing(args: argparse.Namespace, command: str) -> int:
    raise UsageError(f"`faultdrill {command}` needs a subcommand", hint=f"see `faultdrill {command} --help`")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return ExitCode.INVALID
        return int(args.func(args))
    except FaultdrillError as exc:
        if not hasattr(exc, "problems"):
            console.print("error:", style="red", end=" ")
        console.print(str(exc), markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if os.environ.get("FAULTDRILL_DEBUG"):
            raise
        console.print(f"faultdrill: internal error: {type(exc).__name__}: {exc}", markup=False)
        console.print("  rerun with FAULTDRILL_DEBUG=1 for the traceback, and please report it", markup=False)
        return ExitCode.INFRA
