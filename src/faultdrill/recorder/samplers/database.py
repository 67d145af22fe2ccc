"""``db.csv``: a PostgreSQL server's sessions, lock waits, longest transaction and transaction counters.

One query a sample, over ``pg_stat_activity`` (client backends other than the probe's own),
``pg_locks`` (sessions waiting for a lock that is not granted) and ``pg_stat_database`` (counters
summed over every database: commits, rollbacks, deadlocks, cumulative as read). ``commits_per_s`` and
``rollbacks_per_s`` are computed from consecutive samples (empty on the first one, and after a
counter reset). PostgreSQL publishes these counters about once a second, and the probe's own query
counts as one commit per sample.

Where the service publishes ``postgres.port``, or the host reaches the container's own address (a local
engine's bridge network), the probe connects from the host with psycopg: one
autocommit connection, opened when the recorder starts (before the load) and kept for the whole run,
so a server whose connection slots the load fills up is still watched; it is reopened only when it
broke, never because one query failed. Otherwise it runs ``psql -At`` inside the container with
``docker exec`` (a new session each sample: it needs a free slot, or a superuser role for
``superuser_reserved_connections``). Each query is bounded by ``statement_timeout``.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import psycopg
from docker.models.containers import Container

from faultdrill.recorder.samplers.base import SamplerUnavailable
from faultdrill.scenario.model import PostgresProbe

COLUMNS = ["service", "sessions_active", "sessions_idle", "sessions_idle_in_tx", "sessions_waiting_lock",
           "longest_tx_s", "xact_commit", "xact_rollback", "deadlocks", "commits_per_s", "rollbacks_per_s"]
VALUE_COLUMNS = COLUMNS[1:9]
APP_NAME = "faultdrill-recorder"

QUERY = " ".join(["WITH", "a", "AS", "(", "SELECT", "state,", "xact_start", "FROM", "pg_stat_activity", "WHERE", "backend_type", "=", "'client", "backend'", "AND", "pid", "<>", "pg_backend_pid()", "),", "d", "AS", "(", "SELECT", "coalesce(sum(xact_commit),", "0)", "AS", "c,", "coalesce(sum(xact_rollback),", "0)", "AS", "r,", "coalesce(sum(deadlocks),", "0)", "AS", "dl", "FROM", "pg_stat_database", ")", "SELECT", "(SELECT", "count(*)", "FROM", "a", "WHERE", "state", "=", "'active'),", "(SELECT", "count(*)", "FROM", "a", "WHERE", "state", "=", "'idle'),", "(SELECT", "count(*)", "FROM", "a", "WHERE", "state", "LIKE", "'idle", "in", "transaction%'),", "(SELECT", "count(DISTINCT", "pid)", "FROM", "pg_locks", "WHERE", "NOT", "granted", "AND", "pid", "<>", "pg_backend_pid()),", "(SELECT", "coalesce(round(extract(epoch", "FROM", "max(clock_timestamp()", "-", "xact_start))::numeric,", "3),", "0)", "FROM", "a", "WHERE", "xact_start", "IS", "NOT", "NULL),", "d.c,", "d.r,", "d.dl", "FROM", "d"])


# --------------------------------------------------------------------------- pure
@dataclass(frozen=True)
class DbReading:
    at: float  # monotonic seconds, for rates
    values: tuple[float, ...]  # VALUE_COLUMNS, in order


def parse_psql_line(text: str) -> tuple[float, ...]:
    """``psql -At`` output (``a|b|…``) -> numbers. Raises ValueError on anything else."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("psql printed nothing")
    fields = lines[-1].split("|")
    if len(fields) != len(VALUE_COLUMNS):
        raise ValueError(f"unexpected psql output: {lines[-1][:200]!r}")
    return tuple(float(f) for f in fields)


def db_row(service: str, reading: DbReading, previous: DbReading | None) -> dict[str, object]:
    row: dict[str, object] = {"service": service}
    for column, value in zip(VALUE_COLUMNS, reading.values):
        row[column] = value if column == "longest_tx_s" else int(value)
    row["commits_per_s"] = row["rollbacks_per_s"] = None
    if previous is not None and reading.at > previous.at:
        dt = reading.at - previous.at
        for rate, counter in (("commits_per_s", 5), ("rollbacks_per_s", 6)):
            delta = reading.values[counter] - previous.values[counter]
            row[rate] = round(delta / dt, 3) if delta >= 0 else None  # a reset (server restart): no rate
    return row


# --------------------------------------------------------------------------- probes
class Probe(Protocol):
    def open(self) -> None: ...
    def query(self) -> tuple[float, ...]: ...
    def close(self) -> None: ...


class PsycopgProbe:
    """One autocommit connection from the host, opened before the load starts and kept for the run.

    A query that fails on a connection that is still good (``statement_timeout`` on a saturated
    server, a lock it waited for) keeps the connection: on a server with no free connection slot a
    reconnect would fail until the load is gone, and the probe would go blind exactly when the
    database saturates. Only a broken or closed connection is reopened, at the next sample.
    """

    def __init__(self, host: str, port: int, user: str, database: str, password: str | None,
                 timeout: float, connect: Callable[..., psycopg.Connection] = psycopg.connect) -> None:
        self.params = {"host": host, "port": port, "user": user, "dbname": database, "password": password,
                       "application_name": APP_NAME, "connect_timeout": max(2, math.ceil(timeout)),
                       "options": f"-c statement_timeout={int(timeout * 1000)}"}
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        self.connects = 0  # connections opened, for tests and logs

    def open(self) -> None:
        """Connect now (the recorder calls this before the load starts); a failure is retried per sample."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            self._conn = self._connect(autocommit=True, **{k: v for k, v in self.params.items() if v is not None})
            self.connects += 1

    def query(self) -> tuple[float, ...]:
        self.open()
        assert self._conn is not None
        try:
            row = self._conn.execute(QUERY).fetchone()
        except psycopg.Error:
            if self._conn.closed or self._conn.broken:
                self.close()  # reopened at the next sample
            raise
        assert row is not None
        return tuple(float(v) for v in row)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class PsqlExecProbe:
    """``psql -At`` inside the container (no published port, or a remote engine)."""

    def __init__(self, container: Container, port: int, user: str, database: str, password: str | None,
                 timeout: float) -> None:
        self.container = container
        self.cmd = ["psql", "-X", "-q", "-At", "-p", str(port), "-U", user, "-d", database, "-c", QUERY]
        self.env = {"PGAPPNAME": APP_NAME, "PGCONNECT_TIMEOUT": str(max(2, math.ceil(timeout))),
                    "PGOPTIONS": f"-c statement_timeout={int(timeout * 1000)}"}
        if password:
            self.env["PGPASSWORD"] = password

    def query(self) -> tuple[float, ...]:
        result = self.container.exec_run(self.cmd, environment=self.env, demux=True)
        out, err = cast("tuple[bytes | None, bytes | None]", result.output or (b"", b""))  # demux=True: (stdout, stderr)
        if result.exit_code != 0:
            detail = (err or out or b"").decode("utf-8", "replace").strip().splitlines()
            raise SamplerUnavailable(f"psql in the container exited {result.exit_code}: "
                                     f"{detail[-1] if detail else 'no output'}")
        return parse_psql_line((out or b"").decode("utf-8", "replace"))

    def open(self) -> None:
        pass  # one psql session per sample: nothing to keep open

    def close(self) -> None:
        pass


def container_ips(attrs: dict[str, Any]) -> list[str]:
    """The container's IPv4 addresses on its networks, from inspect attrs (pure)."""
    networks = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).values()
    return [n["IPAddress"] for n in networks if n.get("IPAddress")]


def _reachable(ips: list[str], port: int, timeout: float = 0.5) -> tuple[str, int] | None:
    for ip in ips:
        try:
            socket.create_connection((ip, port), timeout=timeout).close()
        except OSError:
            continue
        return ip, port
    return None


# --------------------------------------------------------------------------- the sampler
class DbSampler:
    name = "db"
    columns = COLUMNS

    def __init__(self, service: str, probe: Probe, via: str) -> None:
        self.service = service
        self.probe = probe
        self.via = via  # "psycopg" | "psql-exec", for logs and tests
        self.label = f"db[{service}]"
        self._previous: DbReading | None = None

    @classmethod
    def for_service(cls, service: str, settings: PostgresProbe, container: Container,
                    host_ports: dict[int, int], timeout: float) -> DbSampler:
        """psycopg through the published port; else to the container's own address when the host reaches
        it (a local engine's bridge network); else ``psql`` inside the container (a session per sample)."""
        address = ("127.0.0.1", host_ports[settings.port]) if settings.port in host_ports \
            else _reachable(container_ips(container.attrs), settings.port)
        if address is not None:
            probe: Probe = PsycopgProbe(address[0], address[1], settings.user, settings.database,
                                        settings.password, timeout)
            return cls(service, probe, "psycopg")
        return cls(service, PsqlExecProbe(container, settings.port, settings.user, settings.database,
                                          settings.password, timeout), "psql-exec")

    def open(self) -> None:
        """Take the probe's connection before the load starts (the recorder calls this on start)."""
        self.probe.open()

    def sample(self) -> list[dict[str, object]]:
        reading = DbReading(time.monotonic(), self.probe.query())
        row = db_row(self.service, reading, self._previous)
        self._previous = reading
        return [row]

    def close(self) -> None:
        self.probe.close()
