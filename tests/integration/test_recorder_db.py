"""The database probe on a real PostgreSQL (the demo stack's ``docker/postgres`` image)."""

from __future__ import annotations

import csv
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from docker.models.containers import Container

import docker
from faultdrill.clock import RunClock
from faultdrill.recorder.samplers.database import DbSampler, PsqlExecProbe
from faultdrill.recorder.sampling import SamplingRecorder
from faultdrill.scenario.model import PostgresProbe
from faultdrill.stack.images import ensure_built
from faultdrill.stack.labels import run_labels
from tests.helpers import BUSY_SLACK_S, ROOT, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]  # slow: builds docker/postgres when it changed


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@contextmanager
def postgres(label: str, env: dict[str, str] | None = None) -> Iterator[tuple[Container, int, str]]:
    """The demo stack's PostgreSQL with its port published on 127.0.0.1, ready: (container, port, app DSN)."""
    client = docker.from_env()
    image = ensure_built(client, ROOT / "docker" / "postgres", print)
    container = client.containers.run(image, detach=True, environment=env or {},
                                      ports={"5432/tcp": ("127.0.0.1", None)},
                                      labels=run_labels(f"test-{label}-{os.getpid()}", "test"))
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostPort"])
        dsn = f"host=127.0.0.1 port={port} user=app dbname=tickets connect_timeout=2"

        def ready() -> bool:
            try:
                psycopg.connect(dsn).close()
                return True
            except psycopg.OperationalError:
                return False

        assert wait_for(ready, timeout=30, interval=0.3), "PostgreSQL did not accept connections in 30 s"
        yield container, port, dsn
    finally:
        container.remove(force=True)


def test_a_held_row_lock_shows_as_a_lock_wait_from_the_host_and_through_exec(base_image: str,
                                                                               tmp_path: Path) -> None:
    holder = waiter = None
    with postgres("recorder-db") as (container, port, dsn):
        try:
            with psycopg.connect(dsn, autocommit=True) as setup:
                setup.execute("CREATE TABLE seats (id int PRIMARY KEY, holder text)")
                setup.execute("INSERT INTO seats VALUES (1, NULL)")
            holder = psycopg.connect(dsn)
            holder.execute("SELECT * FROM seats WHERE id = 1 FOR UPDATE")  # the transaction stays open
            waiter = psycopg.connect(dsn, autocommit=True)
            waiter.execute("SET lock_timeout = '20s'")
            blocked = threading.Thread(target=waiter.execute, args=("UPDATE seats SET holder = 'b' WHERE id = 1",),
                                       daemon=True)
            blocked.start()

            # a statement timeout well above a busy machine's slow query: this test wants no error at all
            timeout = 2.0
            unpublished = DbSampler.for_service("db-bridge", PostgresProbe(), container, {}, timeout=timeout)
            assert unpublished.via == "psycopg"  # the host reaches the container's own address: one kept session
            assert unpublished.probe.params["host"] == container.attrs["NetworkSettings"]["IPAddress"]  # type: ignore[attr-defined]
            unpublished.close()
            samplers = [DbSampler.for_service("db-host", PostgresProbe(), container, {5432: port},
                                              timeout=timeout),
                        DbSampler("db-exec", PsqlExecProbe(container, 5432, "postgres", "postgres", None, timeout),
                                  "psql-exec")]  # what a remote engine gets
            logged: list[str] = []
            with SamplingRecorder(samplers, RunClock(), tmp_path, 0.5, log=logged.append):
                def lock_wait_seen() -> bool:
                    rows = read_csv(tmp_path / "db.csv")
                    return {r["service"] for r in rows if r["sessions_waiting_lock"] == "1"} == {"db-host", "db-exec"}

                # a few ticks of 0.5 s, the exec probe's `docker exec` included, on a busy machine
                assert wait_for(lock_wait_seen, timeout=5 + 4 * BUSY_SLACK_S), read_csv(tmp_path / "db.csv")
                held_rows = read_csv(tmp_path / "db.csv")
                holder.rollback()  # the lock goes, the UPDATE goes through
                blocked.join(timeout=10)
                released_at = time.monotonic()
                assert wait_for(lambda: any(r["sessions_waiting_lock"] == "0" and r["service"] == "db-host"
                                            for r in read_csv(tmp_path / "db.csv")[len(held_rows):]),
                                timeout=3 + 3 * BUSY_SLACK_S)
                time.sleep(max(0.0, 1.2 - (time.monotonic() - released_at)))
        finally:
            for conn in (holder, waiter):
                if conn is not None:
                    conn.close()

    assert logged == []
    rows = read_csv(tmp_path / "db.csv")
    during = [r for r in held_rows if r["sessions_waiting_lock"] == "1"]
    for row in during:
        assert int(row["sessions_idle_in_tx"]) >= 1  # the holder sits idle in its transaction
        assert int(row["sessions_active"]) >= 1  # the waiter is active, waiting
        assert float(row["longest_tx_s"]) > 0
    host = [r for r in rows if r["service"] == "db-host"]
    assert host[0]["commits_per_s"] == "" and all(r["commits_per_s"] != "" for r in host[1:])
    assert int(host[-1]["xact_commit"]) >= int(host[0]["xact_commit"]) and host[-1]["deadlocks"] == "0"


def fill_slots(dsn: str, limit: int = 50) -> list[psycopg.Connection]:
    """Open connections as the app role until the server refuses one: the load took every free slot."""
    held: list[psycopg.Connection] = []
    for _ in range(limit):
        try:
            held.append(psycopg.connect(dsn, autocommit=True))
        except psycopg.OperationalError:
            return held
    raise AssertionError(f"the server still accepted connections after {limit}")


def test_the_probe_keeps_watching_a_database_with_no_free_connection_slot(base_image: str, tmp_path: Path) -> None:
    """The load takes every free slot, then a superuser's lock makes the probe's query time out: the probe
    says why it has no data while the lock lasts, and keeps its session, so its rows come back once the
    lock goes and go on to the end, showing the full server.

    The bounds are the probe's own (its interval, its statement timeout) plus ``BUSY_SLACK_S``: beside a
    drill in another test process one sample took 1.9 s, so a gap may start or end a few ticks late, and
    a slow sample may skip a tick or two outside the lock. A probe that went blind (a reconnect refused
    for want of a slot) would have no row from the lock to the end, seconds past any of these bounds."""
    interval, timeout, hold = 0.5, 0.4, 3.0  # the lock outlasts several timed-out samples, even late ones
    held: list[psycopg.Connection] = []
    with postgres("recorder-db-full", {"MAX_CONNECTIONS": "8"}) as (container, port, dsn):
        sampler = DbSampler.for_service("db", PostgresProbe(user="app", database="tickets"), container,
                                        {5432: port}, timeout=timeout)
        clock = RunClock()
        try:
            with SamplingRecorder([sampler], clock, tmp_path, interval) as recorder:
                held = fill_slots(dsn)  # the load arrives after the recorder started: no slot left for anyone
                assert len(held) == 4  # 8 - 3 kept for superusers - the probe's own
                # saturated, a query times out: here a superuser holds pg_database (pg_stat_database reads it)
                with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres") as admin:
                    admin.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
                    locked_at = clock.now()
                    time.sleep(hold)
                    admin.rollback()
                    released_at = clock.now()
                time.sleep(interval + BUSY_SLACK_S + 2.0)  # room for a late recovery, then rows to the end
                stopped_at = clock.now()
            gaps = recorder.gaps()
        finally:
            for conn in held:
                conn.close()

    rows = read_csv(tmp_path / "db.csv")
    ticks = [round(float(r["t"]) / interval) for r in rows]
    assert [float(r["t"]) for r in rows] == [t * interval for t in ticks]  # on the tick grid
    described = [g.describe() for g in gaps]
    # the lock: a gap that says why (the statement timeout), inside the lock give or take a late sample
    lock_gaps = [g for g in gaps if "QueryCanceled" in g.why and g.start < released_at]
    assert lock_gaps, described
    gap = max(lock_gaps, key=lambda g: g.ticks)
    assert "statement timeout" in gap.why, described
    assert gap.start < released_at and gap.end > locked_at, described  # it covers the lock
    assert locked_at - interval - BUSY_SLACK_S <= gap.start, described
    assert gap.end <= released_at + interval + BUSY_SLACK_S, described  # rows again within seconds of the release
    # no other gap is longer than a busy machine's stall: the probe never went blind
    others = [g for g in gaps if g is not gap]
    assert all(g.end - g.start <= BUSY_SLACK_S for g in others), described
    # every tick has a row or is in a gap, never both (the gaps count exactly what is missing)
    in_gaps: set[int] = set()
    for g in gaps:
        in_g = set(range(round(g.start / interval), round(g.end / interval)))
        assert len(in_g) == g.ticks, g.describe()
        in_gaps |= in_g
    every = set(range(ticks[0], math.floor(stopped_at / interval + 1e-9)))  # ticks given a full interval
    assert set(ticks) | in_gaps >= every and not set(ticks) & in_gaps
    after = [r for r in rows if float(r["t"]) > released_at]
    assert len(after) >= 3 and all(int(r["sessions_idle"]) >= 4 for r in after)  # it saw the full server
    assert float(rows[-1]["t"]) >= stopped_at - interval - BUSY_SLACK_S  # and kept sampling to the end
    assert sampler.probe.connects == 1  # type: ignore[attr-defined]  # one session, kept for the run
    assert gap.describe().startswith(f"db[db] sampler: no data from t={gap.start:g} s to t={gap.end:g} s (")
