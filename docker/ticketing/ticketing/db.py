"""Schema, seed data and the bounded connection pool.

The schema is created and seeded idempotently at start, from a background thread
that retries while the database comes up; the app answers 503 until it is ready.
`inventory.remaining` has CHECK (remaining >= 0): the database itself refuses an
oversell, whatever the entry mode does.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from psycopg_pool import ConnectionPool

from .config import Config

log = logging.getLogger("ticketing.db")

# (id, name, inventory)
SEED_EVENTS = (
    (1, "Launch sale - hot event", 100),
    (2, "Summer festival", 1000),
    (3, "Tiny club night", 10),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id        integer PRIMARY KEY,
    name      text    NOT NULL,
    inventory integer NOT NULL CHECK (inventory >= 0)
);
CREATE TABLE IF NOT EXISTS inventory (
    event_id  integer PRIMARY KEY REFERENCES events (id),
    remaining integer NOT NULL CHECK (remaining >= 0)
);
CREATE TABLE IF NOT EXISTS users (
    id               bigserial   PRIMARY KEY,
    email            text        NOT NULL UNIQUE,
    verification     text        NOT NULL DEFAULT 'pending' CHECK (verification IN ('pending', 'sent')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    verified_mail_at timestamptz
);
CREATE INDEX IF NOT EXISTS users_pending ON users (id) WHERE verification = 'pending';
CREATE TABLE IF NOT EXISTS entries (
    id         bigserial   PRIMARY KEY,
    event_id   integer     NOT NULL REFERENCES events (id),
    applicant  text        NOT NULL,
    status     text        NOT NULL CHECK (status IN ('pending', 'granted', 'sold_out')),
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    UNIQUE (event_id, applicant)
);
CREATE INDEX IF NOT EXISTS entries_pending ON entries (event_id, id) WHERE status = 'pending';
"""

SCHEMA_LOCK_KEY = 0x7469636B  # advisory lock: one replica creates the schema at a time


class Database:
    def __init__(self, config: Config) -> None:
        self._config = config
        self.pool: ConnectionPool | None = None
        self.ready = threading.Event()
        self.error: str | None = "starting: waiting for the database"

    def start(self) -> None:
        threading.Thread(target=self._init_loop, name="db-init", daemon=True).start()

    def _init_loop(self) -> None:
        delay, started = 0.2, time.monotonic()
        while True:
            try:
                self._create_schema()
                break
            except psycopg.Error as exc:
                self.error = f"waiting for the database: {str(exc).strip().splitlines()[0]}"
                log.warning("%s (retrying in %.1fs, %.0fs since start)", self.error, delay,
                            time.monotonic() - started)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        cfg = self._config
        self.pool = ConnectionPool(
            cfg.database_url,
            min_size=cfg.db_pool_size, max_size=cfg.db_pool_size,
            timeout=cfg.db_pool_timeout_s, num_workers=2, name="app",
            kwargs={"connect_timeout": int(cfg.db_connect_timeout_s), "application_name": "ticketing",
                    "autocommit": True},  # statements outside `conn.transaction()` commit at once
        )
        self.error = None
        self.ready.set()
        log.info("schema ready, pool open (size %d, acquire timeout %.1fs) after %.1fs",
                 cfg.db_pool_size, cfg.db_pool_timeout_s, time.monotonic() - started)

    def _create_schema(self) -> None:
        with psycopg.connect(self._config.database_url, connect_timeout=2, autocommit=True) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                conn.execute(SCHEMA)
                for event_id, name, inventory in SEED_EVENTS:
                    conn.execute("INSERT INTO events (id, name, inventory) VALUES (%s, %s, %s) "
                                 "ON CONFLICT (id) DO NOTHING", (event_id, name, inventory))
                    conn.execute("INSERT INTO inventory (event_id, remaining) "
                                 "SELECT id, inventory FROM events WHERE id = %s "
                                 "ON CONFLICT (event_id) DO NOTHING", (event_id,))

    def stats(self) -> dict:
        return self.pool.get_stats() if self.pool is not None else {}

    def reset(self, conn: psycopg.Connection, users: bool) -> dict:
        """Back to the seeded state: entries gone, inventory full (and users gone if asked)."""
        with conn.transaction():
            entries = conn.execute("DELETE FROM entries").rowcount
            conn.execute("UPDATE inventory i SET remaining = e.inventory FROM events e WHERE e.id = i.event_id")
            deleted_users = conn.execute("DELETE FROM users").rowcount if users else 0
        return {"entries_deleted": entries, "users_deleted": deleted_users}
