"""A synthetic run directory with known numbers, for tests and for trying the report without Docker.

``write_sample_run(path)`` writes what a real drill writes (``scenario.yaml``, ``run.json``,
``events.jsonl``, ``histograms.jsonl``, ``timeseries.csv``, ``requests.csv``) and, unless told
not to, the recorder's sample files (``connections.csv``, ``resources.csv``, ``app_metrics.csv``,
``db.csv``). Deterministic: the same arguments give the same files.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultdrill.histograms import LoadSecond, RequestStats
from faultdrill.recorder.load_series import REQUEST_COLUMNS, TIMESERIES_COLUMNS
from faultdrill.recorder.rundir import RunDir
from faultdrill.scenario import parse_scenario
from faultdrill.scenario.model import Scenario

WALL0 = "2026-01-01T00:00:00.000+00:00"
SAMPLE_FILES = ("connections.csv", "resources.csv", "app_metrics.csv", "db.csv")


@dataclass(frozen=True)
class SampleShape:
    """The load a sample run saw: latency and failures before, during and after one fault."""

    duration: int = 60
    fault_start: float = 20.0
    fault_end: float = 40.0
    users: int = 20
    rps: int = 40
    base_ms: float = 10.0
    fault_ms: float = 300.0
    fault_error_rate: float = 0.1  # failures per request during the fault
    profiles: Sequence[str] = ("modern", "legacy-tls")  # "" entries: no profile column
    failing_profile: str | None = "legacy-tls"  # during the fault only this profile fails, when given


def sample_scenario_text(name: str = "sample", checks: str | None = None, fault: SampleShape = SampleShape()) -> str:
    checks = checks if checks is not None else (
        "  - {name: baseline is fast, metric: p95_ms, window: baseline, max: 50}\n"
        "  - {name: errors stay low, metric: error_rate, window: run, max: 0.01}\n")
    return (
        f"name: {name}\n"
        "description: synthetic run for the report's tests\n"
        "stack:\n  services:\n"
        "    app: {image: example/app, ports: [8000], pids_limit: 64}\n"
        "    db: {image: example/db}\n"
        "proxies:\n  db: {upstream: \"db:5432\"}\n"
        "load:\n  journeys: builtin:smoke\n  host: ${service.app.url}\n"
        f"  shape:\n    - {{until: {fault.duration}s, users: {fault.users}, spawn_rate: {fault.users}}}\n"
        "faults:\n"
        f"  - name: slow db\n    at: {fault.fault_start:g}s\n    for: {fault.fault_end - fault.fault_start:g}s\n"
        "    toxic: {proxy: db, type: latency, latency: 300ms}\n"
        "checks:\n" + checks)


def _second(t: int, shape: SampleShape, rng: random.Random) -> tuple[LoadSecond, dict[str, tuple[int, int]]]:
    in_fault = shape.fault_start <= t + 0.5 < shape.fault_end
    stats = {"GET /": RequestStats(), "POST /signup": RequestStats()}
    by_profile: dict[str, list[int]] = {p: [0, 0] for p in shape.profiles}
    for i in range(shape.rps):
        name = "GET /" if i % 4 else "POST /signup"
        profile = shape.profiles[i % len(shape.profiles)] if shape.profiles else ""
        ms = (shape.fault_ms if in_fault else shape.base_ms) * rng.uniform(0.8, 1.2)
        s = stats[name]
        if not in_fault:
            fails = False
        elif shape.failing_profile:
            fails = profile == shape.failing_profile
        else:
            fails = shape.fault_error_rate > 0 and i % max(1, round(1 / shape.fault_error_rate)) == 0
        s.record(ms, ("HTTP 502" if name == "GET /" else "ReadTimeout") if fails else None)
        if profile:
            by_profile[profile][0] += 1
            by_profile[profile][1] += int(fails)
    return LoadSecond(t, shape.users, stats), {p: (n, f) for p, (n, f) in by_profile.items()}


def write_sample_run(path: Path, *, shape: SampleShape = SampleShape(), status: str = "completed",
                     name: str = "sample", checks: str | None = None, samples: bool = True,
                     stop_at: int | None = None, seed: int = 7) -> tuple[RunDir, Scenario]:
    """Write a run directory at ``path``; ``stop_at`` cuts the load short (an interrupted run)."""
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    run_dir = RunDir(path)
    text = sample_scenario_text(name, checks, shape)
    run_dir.scenario_copy.write_text(text, encoding="utf-8")
    scenario = parse_scenario(text, "scenario.yaml")
    last = shape.duration if stop_at is None else stop_at
    seconds, profile_rows = [], []
    for t in range(last):
        second, per_profile = _second(t, shape, rng)
        seconds.append(second)
        profile_rows.append(per_profile)
    _write_load(run_dir, seconds, profile_rows, shape)
    end = float(last) + (0.2 if stop_at is None else 0.0)
    events = [{"t": 0.0, "kind": "run.start", "duration": float(shape.duration)}]
    if shape.fault_start < last:
        events.append({"t": shape.fault_start + 0.01, "kind": "fault.start", "fault": "slow db",
                       "planned_at": shape.fault_start})
        if shape.fault_end <= last:
            events.append({"t": shape.fault_end + 0.01, "kind": "fault.stop", "fault": "slow db",
                           "planned_at": shape.fault_end, "reason": "scheduled"})
    if status == "completed":
        events.append({"t": end, "kind": "run.end"})
    elif status == "interrupted":
        events.append({"t": end, "kind": "run.interrupted", "reason": "SIGINT"})
    else:
        events.append({"t": end, "kind": "run.failed", "error": "service app became unhealthy"})
    run_dir.events.write_text("".join(json.dumps(e | {"wall": WALL0}) + "\n" for e in events), encoding="utf-8")
    run_dir.journal.write_text("", encoding="utf-8")
    run_dir.run_json.write_text(json.dumps(_run_json(run_dir.run_id, name, status), indent=2), encoding="utf-8")
    if samples:
        write_recorder_samples(run_dir, last, shape)
    return run_dir, scenario


def _run_json(run_id: str, name: str, status: str) -> dict[str, Any]:
    return {"run_id": run_id, "status": status,
            "scenario": {"name": name, "path": "scenarios/sample.yaml", "sha256": "ab" * 32},
            "started": WALL0, "ended": None, "argv": ["faultdrill", "run", "scenarios/sample.yaml"],
            "versions": {"faultdrill": "0.1.0", "python": "3.11", "locust": "2.0", "matplotlib": "3.8"},
            "git_sha": "0123456789abcdef0123456789abcdef01234567",
            "host": {"hostname": "sample-host", "platform": "Linux", "cpus": 2},
            "toxiproxy": {"kind": "builtin", "image": "faultdrill/toxiproxy-compat:test"}}


def _write_load(run_dir: RunDir, seconds: list[LoadSecond], profiles: list[dict[str, tuple[int, int]]],
                shape: SampleShape) -> None:
    with_profile = bool(shape.profiles)
    columns = REQUEST_COLUMNS[:2] + (["profile"] if with_profile else []) + REQUEST_COLUMNS[2:]
    with open(run_dir.timeseries, "w", newline="", encoding="utf-8") as ts, \
         open(run_dir.requests, "w", newline="", encoding="utf-8") as rq, \
         open(run_dir.histograms, "w", encoding="utf-8") as hist:
        tw, rw = csv.writer(ts), csv.writer(rq)
        tw.writerow(TIMESERIES_COLUMNS)
        rw.writerow(columns)
        for second, per_profile in zip(seconds, profiles):
            total = second.total()
            tw.writerow([second.t, WALL0, second.users, total.count, total.failures, total.count,
                         f"{total.failures / total.count:.4f}", "", "", "", "", "", "", "", "", ""])
            if with_profile:
                for profile, (n, failed) in per_profile.items():
                    rw.writerow([second.t, "GET /", profile, n, failed, "", "", "", "", "", "", "", ""])
            else:
                for name, stats in second.requests.items():
                    rw.writerow([second.t, name, stats.count, stats.failures, "", "", "", "",
                                 json.dumps(stats.errors) if stats.errors else "", "", "", ""])
            hist.write(json.dumps(second.to_wire()) + "\n")


def write_recorder_samples(run_dir: RunDir, last: int, shape: SampleShape) -> None:
    """connections.csv, resources.csv, app_metrics.csv and db.csv, with the fault visible in each."""
    def fault(t: float) -> bool:
        return shape.fault_start <= t < shape.fault_end

    with open(run_dir.path / "connections.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "wall", "service", "direction", "endpoint", "state", "count"])
        for t in range(last):
            w.writerow([t, WALL0, "app", "inbound", "0.0.0.0:8000", "ESTABLISHED", 20])
            w.writerow([t, WALL0, "app", "outbound", "db:5432", "ESTABLISHED", 10 if not fault(t) else 25])
            w.writerow([t, WALL0, "app", "inbound", "0.0.0.0:8000", "TIME_WAIT", 3 if not fault(t) else 40])
            w.writerow([t, WALL0, "db", "inbound", "0.0.0.0:5432", "ESTABLISHED", 10 if not fault(t) else 25])
    with open(run_dir.path / "resources.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "wall", "service", "cpu_pct", "mem_bytes", "mem_limit_bytes", "pids", "pids_limit",
                    "net_rx_bytes", "net_tx_bytes", "restarts", "oom_killed"])
        for t in range(last):
            w.writerow([t, WALL0, "app", 25 if not fault(t) else 70, (120 + (30 if fault(t) else 0)) * 2**20,
                        512 * 2**20, 12 if not fault(t) else 58, 64, t * 1000, t * 2000, 0, "false"])
            w.writerow([t, WALL0, "db", 15 if not fault(t) else 35, 200 * 2**20, "", 9, "", t * 500, t * 400, 0,
                        "false"])
    with open(run_dir.path / "app_metrics.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "wall", "service", "metric", "labels", "value"])
        total = 0.0
        for t in range(last):
            total += 40
            w.writerow([t, WALL0, "app", "http_requests_total", 'method="GET"', total])
            w.writerow([t, WALL0, "app", "mail_threads_active", "", 2 if not fault(t) else 2 + (t - shape.fault_start)])
            w.writerow([t, WALL0, "app", "db_pool_in_use", "", 3 if not fault(t) else 10])
            w.writerow([t, WALL0, "app", "python_gc_objects_collected_total", 'generation="0"', t * 10])
            w.writerow([t, WALL0, "app", "process_start_time_seconds", "", 1.7e9])
    with open(run_dir.path / "db.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "wall", "service", "sessions_active", "sessions_idle", "sessions_idle_in_tx",
                    "sessions_waiting_lock", "longest_tx_s", "commits_per_s", "rollbacks_per_s"])
        for t in range(last):
            w.writerow([t, WALL0, "db", 2 if not fault(t) else 9, 8 if not fault(t) else 1, 0 if not fault(t) else 4,
                        0 if not fault(t) else 6, 0.05 if not fault(t) else 3.5, 30 if not fault(t) else 8, 0])
