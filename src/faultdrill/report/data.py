"""Reading what a run recorded into typed rows for the report (I/O at the edge, parsing pure).

Every recorder file is optional: a run without a database has no ``db.csv``, a run
interrupted early may have a header and nothing else, and a crash can cut the last line
short. Readers return an empty list for a missing file and drop rows they cannot parse.

Files and columns (written by ``faultdrill.recorder`` and the load engine):

* ``histograms.jsonl`` — per-second HdrHistograms per request name (the load panels).
* ``requests.csv`` — ``t, name, [profile,] requests, failures, …, errors`` (success by profile).
* ``connections.csv`` — ``t, wall, service, direction, endpoint, state, count`` (long format).
* ``resources.csv`` — ``t, wall, service, cpu_pct, cpu_limit, host_cpus, mem_bytes, mem_limit_bytes, pids,
  pids_limit, net_rx_bytes, net_tx_bytes, restarts, oom_killed`` (runs before ``cpu_limit`` / ``host_cpus``
  existed read as no limit, host unknown).
* ``app_metrics.csv`` — ``t, wall, service, metric, labels, value``.
* ``db.csv`` — ``t, wall, service, sessions_active, sessions_idle, sessions_idle_in_tx,
  sessions_waiting_lock, longest_tx_s, commits_per_s, …`` (any further numeric columns are kept).
* ``ingress.csv`` — ``t, wall, service, accepted, handled, requests, active, reading, writing, waiting``
  (nginx ``stub_status``; the first three are cumulative counters).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultdrill.histograms import LoadSecond
from faultdrill.recorder.events import read_events
from faultdrill.recorder.load_series import read_load_seconds
from faultdrill.recorder.rundir import RunDir

CONNECTIONS_CSV = "connections.csv"
RESOURCES_CSV = "resources.csv"
APP_METRICS_CSV = "app_metrics.csv"
DB_CSV = "db.csv"
INGRESS_CSV = "ingress.csv"
DB_KEY_COLUMNS = ("t", "wall", "service")


def number(text: str | None) -> float | None:
    """A CSV cell as a float; blank, garbage, NaN or infinite cells are None."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if text.lower() in ("true", "false"):
        return 1.0 if text.lower() == "true" else 0.0
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ConnectionRow:
    t: float
    service: str
    direction: str
    endpoint: str
    state: str
    count: float


@dataclass(frozen=True)
class ResourceRow:
    t: float
    service: str
    cpu_pct: float | None
    mem_bytes: float | None
    mem_limit_bytes: float | None
    pids: float | None
    pids_limit: float | None
    restarts: float | None
    oom_killed: float | None
    cpu_limit: float | None = None  # CPUs the container may use (empty: no limit)
    host_cpus: float | None = None  # CPUs of the engine's host


@dataclass(frozen=True)
class MetricRow:
    t: float
    service: str
    metric: str
    labels: str
    value: float


@dataclass(frozen=True)
class DbRow:
    t: float
    service: str
    values: tuple[tuple[str, float | None], ...]  # (column, value) in file order

    def get(self, column: str) -> float | None:
        return dict(self.values).get(column)


@dataclass(frozen=True)
class ProfileRow:
    t: float
    profile: str
    requests: float
    failures: float


@dataclass(frozen=True)
class IngressRow:
    """One nginx stub_status reading: cumulative counters and the connections open now."""

    t: float
    service: str
    accepted: float
    handled: float
    requests: float
    active: float | None = None
    reading: float | None = None
    writing: float | None = None
    waiting: float | None = None


def _rows(text: str) -> Iterator[dict[str, str]]:
    for row in csv.DictReader(io.StringIO(text)):
        if None in row.values() or None in row:  # a line cut short (or with extra cells) by a crash
            continue
        yield row


def _timed(row: dict[str, str]) -> float | None:
    return number(row.get("t"))


def parse_connections(text: str) -> list[ConnectionRow]:
    out = []
    for row in _rows(text):
        t, count = _timed(row), number(row.get("count"))
        if t is None or count is None or not row.get("service"):
            continue
        out.append(ConnectionRow(t, row["service"], row.get("direction", "") or "", row.get("endpoint", "") or "",
                                 (row.get("state", "") or "").upper(), count))
    return out


def parse_resources(text: str) -> list[ResourceRow]:
    out = []
    for row in _rows(text):
        t = _timed(row)
        if t is None or not row.get("service"):
            continue
        out.append(ResourceRow(t, row["service"], number(row.get("cpu_pct")), number(row.get("mem_bytes")),
                               number(row.get("mem_limit_bytes")), number(row.get("pids")),
                               number(row.get("pids_limit")), number(row.get("restarts")),
                               number(row.get("oom_killed")), number(row.get("cpu_limit")),
                               number(row.get("host_cpus"))))
    return out


def parse_app_metrics(text: str) -> list[MetricRow]:
    out = []
    for row in _rows(text):
        t, value = _timed(row), number(row.get("value"))
        if t is None or value is None or not row.get("service") or not row.get("metric"):
            continue
        out.append(MetricRow(t, row["service"], row["metric"], row.get("labels", "") or "", value))
    return out


def parse_db(text: str) -> list[DbRow]:
    out = []
    for row in _rows(text):
        t = _timed(row)
        if t is None or not row.get("service"):
            continue
        values = tuple((k, number(v)) for k, v in row.items() if k not in DB_KEY_COLUMNS)
        out.append(DbRow(t, row["service"], values))
    return out


def parse_ingress(text: str) -> list[IngressRow]:
    out = []
    for row in _rows(text):
        t = _timed(row)
        counters = [number(row.get(c)) for c in ("accepted", "handled", "requests")]
        if t is None or not row.get("service") or None in counters:
            continue
        accepted, handled, reqs = (float(c) for c in counters if c is not None)
        out.append(IngressRow(t, row["service"], accepted, handled, reqs, number(row.get("active")),
                              number(row.get("reading")), number(row.get("writing")), number(row.get("waiting"))))
    return out


def parse_profiles(text: str) -> list[ProfileRow]:
    """Per-second request counts by client profile, from ``requests.csv`` when it has a ``profile`` column."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "profile" not in reader.fieldnames:
        return []
    out = []
    for row in _rows(text):
        t, n, failed = _timed(row), number(row.get("requests")), number(row.get("failures"))
        if t is None or n is None or not row.get("profile"):
            continue
        out.append(ProfileRow(t, row["profile"], n, failed or 0.0))
    return out


def profiles_from_seconds(seconds: Iterable[LoadSecond]) -> list[ProfileRow]:
    """Per-second counts by client profile from ``histograms.jsonl`` (``LoadSecond.profiles``)."""
    out = []
    for second in seconds:
        for profile, requests in (getattr(second, "profiles", None) or {}).items():
            out.append(ProfileRow(float(second.t), profile, float(sum(r.count for r in requests.values())),
                                  float(sum(r.failures for r in requests.values()))))
    return out


@dataclass(frozen=True)
class ConnCountRow:
    """Requests a client profile sent vs TCP connections (and TLS handshakes) that reached the target."""

    t: float
    profile: str
    requests: float
    connects: float
    failed_connects: float  # TCP connect errors + TLS handshake errors
    connect_errors: float = 0.0  # TCP connects that failed (attempts = connects + connect_errors)

    @property
    def attempts(self) -> float:
        """TCP connection attempts (a connect whose TLS handshake then fails is in ``connects``)."""
        return self.connects + self.connect_errors


def conn_counts_from_seconds(seconds: Iterable[LoadSecond]) -> list[ConnCountRow]:
    out = []
    for second in seconds:
        for profile, c in (getattr(second, "conns", None) or {}).items():
            failed = getattr(c, "connect_errors", 0) + getattr(c, "tls_errors", 0)
            out.append(ConnCountRow(float(second.t), profile, float(c.requests), float(c.connects), float(failed),
                                    float(getattr(c, "connect_errors", 0))))
    return out


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def read_json_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class RunData:
    """Everything the report draws from one run directory."""

    run_id: str
    seconds: list[LoadSecond] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    run_info: dict[str, Any] = field(default_factory=dict)  # run.json as it is now
    connections: list[ConnectionRow] = field(default_factory=list)
    resources: list[ResourceRow] = field(default_factory=list)
    app_metrics: list[MetricRow] = field(default_factory=list)
    db: list[DbRow] = field(default_factory=list)
    profiles: list[ProfileRow] = field(default_factory=list)
    conn_counts: list[ConnCountRow] = field(default_factory=list)
    ingress: list[IngressRow] = field(default_factory=list)
    present: frozenset[str] = frozenset()  # names of the optional files that exist (even if empty)

    def services(self) -> list[str]:
        names: set[str] = set()
        for rows in (self.connections, self.resources, self.app_metrics, self.db):
            names.update(r.service for r in rows)
        return sorted(names)


def load_run_data(run_dir: RunDir) -> RunData:
    path = run_dir.path
    optional = (CONNECTIONS_CSV, RESOURCES_CSV, APP_METRICS_CSV, DB_CSV, INGRESS_CSV)
    seconds = read_load_seconds(run_dir.histograms)
    return RunData(
        run_id=run_dir.run_id,
        seconds=seconds,
        events=read_events(run_dir.events),
        run_info=read_json_file(run_dir.run_json),
        connections=parse_connections(_read(path / CONNECTIONS_CSV)),
        resources=parse_resources(_read(path / RESOURCES_CSV)),
        app_metrics=parse_app_metrics(_read(path / APP_METRICS_CSV)),
        db=parse_db(_read(path / DB_CSV)),
        profiles=profiles_from_seconds(seconds) or parse_profiles(_read(run_dir.requests)),
        conn_counts=conn_counts_from_seconds(seconds),
        ingress=parse_ingress(_read(path / INGRESS_CSV)),
        present=frozenset(name for name in optional if (path / name).is_file()),
    )


def group_by(items: Iterable[Any], *attrs: str) -> dict[tuple[Any, ...], list[Any]]:
    out: dict[tuple[Any, ...], list[Any]] = {}
    for item in items:
        out.setdefault(tuple(getattr(item, a) for a in attrs), []).append(item)
    return out
