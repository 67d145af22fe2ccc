"""Ticket entries, in two modes (ENTRY_MODE).

* locking - the incident: every entry is a transaction on the primary that takes
  the event's single inventory row FOR UPDATE, inserts the entry and decrements
  the row, holding the lock across three round trips. Every applicant of a hot
  event queues on that one row lock.
* queued  - the fix ("parking/queue"): the request only appends the entry
  (INSERT ... status 'pending'; no shared row is written or locked) and returns
  202 pending. An allocator thread grants pending entries in arrival order, in
  batches: one short transaction per event per pass takes the inventory row lock
  once for up to ALLOCATOR_BATCH entries. Clients poll GET /events/{id}/entries/{entry_id}.

Never oversell, in any mode and under any fault: the grant and the decrement are
in the same transaction as the row lock, and `inventory.remaining >= 0` is a
CHECK constraint, so a bug would fail the transaction rather than oversell.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from psycopg import Connection

from .config import Config
from .metrics import Metrics

log = logging.getLogger("ticketing.entries")

ALLOCATOR_LOCK_KEY = 0x616C6C6F  # pg_try_advisory_xact_lock(key, event_id): one allocator per event


class EventNotFound(LookupError):
    pass


class Entries:
    def __init__(self, config: Config, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self._lock_waiting = 0
        self._gauge_lock = threading.Lock()

    def enter(self, conn: Connection, event_id: int, applicant: str) -> tuple[int, dict]:
        if self.config.entry_mode == "locking":
            status, body = self._enter_locking(conn, event_id, applicant)
        else:
            status, body = self._enter_queued(conn, event_id, applicant)
        result = body["status"] if not body.get("duplicate") else "duplicate"
        self.metrics.entries.labels(self.config.entry_mode, result).inc()
        return status, body

    # -- locking (the incident) ----------------------------------------------------
    def _enter_locking(self, conn: Connection, event_id: int, applicant: str) -> tuple[int, dict]:
        with conn.transaction():
            row = self._lock_inventory(conn, event_id)
            if row is None:
                raise EventNotFound(event_id)
            remaining = row[0]
            status = "granted" if remaining > 0 else "sold_out"
            inserted = conn.execute(
                "INSERT INTO entries (event_id, applicant, status, decided_at) VALUES (%s, %s, %s, now()) "
                "ON CONFLICT (event_id, applicant) DO NOTHING RETURNING id",
                (event_id, applicant, status)).fetchone()
            if inserted is None:
                return self._duplicate(conn, event_id, applicant)
            if status == "granted":
                conn.execute("UPDATE inventory SET remaining = remaining - 1 WHERE event_id = %s", (event_id,))
        if status == "granted":
            self.metrics.granted.inc()
            return 201, {"status": "granted", "entry_id": inserted[0], "event_id": event_id}
        return 200, {"status": "sold_out", "entry_id": inserted[0], "event_id": event_id}

    def _lock_inventory(self, conn: Connection, event_id: int) -> Optional[tuple]:
        with self._gauge_lock:
            self._lock_waiting += 1
            self.metrics.lock_waiting.set(self._lock_waiting)
        started = time.perf_counter()
        try:
            return conn.execute("SELECT remaining FROM inventory WHERE event_id = %s FOR UPDATE",
                                (event_id,)).fetchone()
        finally:
            waited = time.perf_counter() - started
            self.metrics.lock_wait.observe(waited)
            if waited * 1000.0 > self.config.lock_wait_threshold_ms:
                self.metrics.lock_waits.inc()
            with self._gauge_lock:
                self._lock_waiting -= 1
                self.metrics.lock_waiting.set(self._lock_waiting)

    # -- queued (the fix) ----------------------------------------------------------
    def _enter_queued(self, conn: Connection, event_id: int, applicant: str) -> tuple[int, dict]:
        # Plain MVCC read: no lock. Once sold out, say so without queueing more work.
        row = conn.execute("SELECT remaining FROM inventory WHERE event_id = %s", (event_id,)).fetchone()
        if row is None:
            raise EventNotFound(event_id)
        sold_out = row[0] <= 0
        inserted = conn.execute(
            "INSERT INTO entries (event_id, applicant, status, decided_at) "
            "VALUES (%s, %s, %s, CASE WHEN %s THEN now() END) "
            "ON CONFLICT (event_id, applicant) DO NOTHING RETURNING id",
            (event_id, applicant, "sold_out" if sold_out else "pending", sold_out)).fetchone()
        if inserted is None:
            return self._duplicate(conn, event_id, applicant)
        if sold_out:
            return 200, {"status": "sold_out", "entry_id": inserted[0], "event_id": event_id}
        return 202, {"status": "pending", "entry_id": inserted[0], "event_id": event_id,
                     "poll": f"/events/{event_id}/entries/{inserted[0]}"}

    @staticmethod
    def _duplicate(conn: Connection, event_id: int, applicant: str) -> tuple[int, dict]:
        row = conn.execute("SELECT id, status FROM entries WHERE event_id = %s AND applicant = %s",
                           (event_id, applicant)).fetchone()
        return 409, {"status": row[1], "entry_id": row[0], "event_id": event_id, "duplicate": True,
                     "error": "this applicant already has an entry for this event"}

    @staticmethod
    def get(conn: Connection, event_id: int, entry_id: int) -> Optional[dict]:
        row = conn.execute("SELECT id, applicant, status, created_at, decided_at FROM entries "
                           "WHERE event_id = %s AND id = %s", (event_id, entry_id)).fetchone()
        if row is None:
            return None
        return {"entry_id": row[0], "event_id": event_id, "applicant": row[1], "status": row[2],
                "created_at": row[3].isoformat(), "decided_at": row[4].isoformat() if row[4] else None}

    # -- allocator -----------------------------------------------------------------
    def allocate_once(self, conn: Connection) -> int:
        """One pass: for each event with pending entries, grant up to ALLOCATOR_BATCH
        in arrival order, and mark the rest sold out once the inventory is gone."""
        granted_total = 0
        event_ids = [r[0] for r in conn.execute(
            "SELECT DISTINCT event_id FROM entries WHERE status = 'pending'").fetchall()]
        for event_id in event_ids:
            with conn.transaction():
                if not conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)",
                                    (ALLOCATOR_LOCK_KEY, event_id)).fetchone()[0]:
                    continue  # another replica's allocator has this event
                remaining = conn.execute("SELECT remaining FROM inventory WHERE event_id = %s FOR UPDATE",
                                         (event_id,)).fetchone()[0]
                take = min(remaining, self.config.allocator_batch)
                granted = conn.execute(
                    "UPDATE entries SET status = 'granted', decided_at = now() WHERE id IN ("
                    " SELECT id FROM entries WHERE event_id = %s AND status = 'pending'"
                    " ORDER BY id LIMIT %s FOR UPDATE) RETURNING id", (event_id, take)).rowcount
                if granted:
                    conn.execute("UPDATE inventory SET remaining = remaining - %s WHERE event_id = %s",
                                 (granted, event_id))
                if remaining - granted == 0:
                    conn.execute("UPDATE entries SET status = 'sold_out', decided_at = now() "
                                 "WHERE event_id = %s AND status = 'pending'", (event_id,))
            granted_total += granted
        if granted_total:
            self.metrics.granted.inc(granted_total)
            self.metrics.allocator_runs.inc()
        return granted_total


class Allocator:
    """Runs `Entries.allocate_once` every ALLOCATOR_INTERVAL_MS on a pool connection.
    Runs in every entry mode (it only acts on 'pending' entries), so entries left
    pending by a queued-mode deployment are still decided after a switch back."""

    def __init__(self, entries: Entries, pool_getter, interval_s: float) -> None:
        self._entries = entries
        self._pool_getter = pool_getter
        self._interval_s = interval_s
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="allocator", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            pool = self._pool_getter()
            if pool is None:
                continue
            try:
                with pool.connection() as conn:
                    while self._entries.allocate_once(conn) >= self._entries.config.allocator_batch:
                        pass  # a full batch: more may be waiting
            except Exception as exc:  # DB down or pool exhausted: try again next tick
                log.warning("allocator pass failed: %s: %s", type(exc).__name__, exc)
                time.sleep(min(1.0, self._interval_s * 10))
