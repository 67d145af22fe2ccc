"""The WSGI application: routes, JSON in/out, error mapping, request metrics."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

import psycopg
from psycopg_pool import PoolTimeout

from .config import Config
from .db import Database
from .entries import Allocator, Entries, EventNotFound
from .mail import Mailer
from .metrics import Metrics, gauge
from .routing import ROUTES, match

log = logging.getLogger("ticketing.app")

MAX_BODY = 64 * 1024
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TicketingApp:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self.db = Database(config)
        self.mailer = Mailer(config, self.metrics, lambda: self.db.pool)
        self.entries = Entries(config, self.metrics)
        self.allocator = Allocator(self.entries, lambda: self.db.pool, config.allocator_interval_ms / 1000.0)
        self.metrics.info.info({"mail_mode": config.mail_mode, "entry_mode": config.entry_mode,
                                "threads": str(config.threads), "db_pool_size": str(config.db_pool_size)})
        self.metrics.add_live(self._collect)
        self._errors = _ThrottledLog(log)

    def start(self) -> None:
        self.db.start()
        self.allocator.start()

    # -- WSGI ----------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        found = match(method, environ.get("PATH_INFO", "/"))
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        status = 500
        try:
            status, body, content_type = self._dispatch(found, method, environ)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.latency.labels(found.route, method).observe(time.perf_counter() - started)
            self.metrics.requests.labels(found.route, method, str(status)).inc()
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        if found.allowed:
            headers.append(("Allow", ", ".join(found.allowed)))
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}", headers)
        return [b"" if method == "HEAD" else payload]

    def _dispatch(self, found, method: str, environ: dict) -> tuple[int, Any, str]:
        if found.handler is None:
            if found.allowed:
                return 405, {"error": f"{method} not allowed on {found.route}; use {', '.join(found.allowed)}"}, _JSON
            return 404, {"error": "no such route", "routes": [f"{m} {t}" for m, t, _ in ROUTES]}, _JSON
        if found.handler == "metrics":
            return 200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"
        try:
            status, body = getattr(self, "h_" + found.handler)(environ, **found.params)
            return status, body, _JSON
        except HttpError as exc:
            return exc.status, {"error": str(exc)}, _JSON
        except EventNotFound as exc:
            return 404, {"error": f"no event {exc.args[0]}"}, _JSON
        except PoolTimeout:
            self.metrics.db_errors.labels("pool_timeout").inc()
            return 503, {"error": f"no DB connection free within DB_POOL_TIMEOUT_S={self.config.db_pool_timeout_s}s "
                                  f"(pool size {self.config.db_pool_size})"}, _JSON
        except psycopg.OperationalError as exc:
            self.metrics.db_errors.labels("operational").inc()
            return 503, {"error": f"database unavailable: {_first_line(exc)}"}, _JSON
        except Exception as exc:  # what any framework does: log it, answer 500, keep serving
            if isinstance(exc, psycopg.Error):
                self.metrics.db_errors.labels("other").inc()
            self._errors.exception(f"{method} {found.route} failed", exc)
            return 500, {"error": f"{type(exc).__name__}: {exc}"}, _JSON

    # -- handlers --------------------------------------------------------------------
    def h_index(self, environ: dict) -> tuple[int, dict]:
        return 200, {"app": "faultdrill ticketing demo", "mail_mode": self.config.mail_mode,
                     "entry_mode": self.config.entry_mode, "routes": [f"{m} {t}" for m, t, _ in ROUTES]}

    def h_healthz(self, environ: dict) -> tuple[int, dict]:
        modes = {"mail_mode": self.config.mail_mode, "entry_mode": self.config.entry_mode}
        if not self.db.ready.is_set():
            return 503, {"status": "starting", "error": self.db.error, **modes}
        try:
            with self.db.pool.connection(timeout=min(1.0, self.config.db_pool_timeout_s)) as conn:
                conn.execute("SELECT 1")
        except (PoolTimeout, psycopg.Error) as exc:
            return 503, {"status": "unhealthy", "error": f"{type(exc).__name__}: {_first_line(exc)}", **modes}
        return 200, {"status": "ok", **modes}

    def h_list_events(self, environ: dict) -> tuple[int, dict]:
        with self._conn() as conn:
            rows = conn.execute("SELECT e.id, e.name, e.inventory, i.remaining FROM events e "
                                "JOIN inventory i ON i.event_id = e.id ORDER BY e.id").fetchall()
        return 200, {"events": [_event(*r) for r in rows]}

    def h_get_event(self, environ: dict, id: int) -> tuple[int, dict]:
        with self._conn() as conn:
            row = conn.execute("SELECT e.id, e.name, e.inventory, i.remaining FROM events e "
                               "JOIN inventory i ON i.event_id = e.id WHERE e.id = %s", (id,)).fetchone()
            if row is None:
                raise EventNotFound(id)
            pending = conn.execute("SELECT count(*) FROM entries WHERE event_id = %s AND status = 'pending'",
                                   (id,)).fetchone()[0]
        return 200, {**_event(*row), "pending": pending}

    def h_create_entry(self, environ: dict, id: int) -> tuple[int, dict]:
        body = _json_body(environ)
        applicant = body.get("user", body.get("email"))
        if isinstance(applicant, (int, str)) and not isinstance(applicant, bool):
            applicant = str(applicant).strip()
        if not applicant or len(applicant) > 254:
            raise HttpError(400, 'body must be {"user": <id or name>} or {"email": "<address>"}')
        with self._conn() as conn:
            return self.entries.enter(conn, id, applicant)

    def h_get_entry(self, environ: dict, id: int, entry_id: int) -> tuple[int, dict]:
        with self._conn() as conn:
            entry = self.entries.get(conn, id, entry_id)
        if entry is None:
            raise HttpError(404, f"no entry {entry_id} for event {id}")
        return 200, entry

    def h_signup(self, environ: dict) -> tuple[int, dict]:
        email = _json_body(environ).get("email")
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            self.metrics.signups.labels("invalid").inc()
            raise HttpError(400, 'body must be {"email": "<address>"}')
        with self._conn() as conn:
            row = conn.execute("INSERT INTO users (email) VALUES (%s) ON CONFLICT (email) DO NOTHING "
                               "RETURNING id", (email,)).fetchone()
        if row is None:
            self.metrics.signups.labels("duplicate").inc()
            raise HttpError(409, f"{email} is already registered")
        try:
            verification = self.mailer.submit(row[0], email)
        except RuntimeError:
            self.metrics.signups.labels("error").inc()
            raise
        self.metrics.signups.labels("created").inc()
        return 201, {"id": row[0], "email": email, "verification": verification}

    def h_resend_verifications(self, environ: dict) -> tuple[int, dict]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        raw = query.get("limit", [None])[0] or _json_body(environ, optional=True).get("limit", 10000)
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise HttpError(400, f"limit must be an integer, got {raw!r}") from None
        if not 1 <= limit <= 1_000_000:
            raise HttpError(400, f"limit must be between 1 and 1000000, got {limit}")
        self._conn_check()
        result = self.mailer.resend_pending(limit)
        if result is None:
            raise HttpError(409, "a resend is already running; try again when it has finished")
        return 200, result

    def h_reset(self, environ: dict) -> tuple[int, dict]:
        users = bool(_json_body(environ, optional=True).get("users", False))
        with self._conn() as conn:
            return 200, self.db.reset(conn, users=users)

    # -- helpers ---------------------------------------------------------------------
    def _conn_check(self) -> None:
        if not self.db.ready.is_set():
            raise HttpError(503, f"not ready: {self.db.error}")

    def _conn(self):
        self._conn_check()
        return self.db.pool.connection()

    def _collect(self):
        yield gauge("ticketing_ready", "1 when the schema is ready and the DB pool open",
                    1 if self.db.ready.is_set() else 0)
        stats = self.db.stats()
        size = stats.get("pool_size", 0)
        yield gauge("ticketing_db_pool_size", "DB connections open in the pool", size)
        yield gauge("ticketing_db_pool_max", "DB pool bound (DB_POOL_SIZE)", self.config.db_pool_size)
        yield gauge("ticketing_db_pool_in_use", "DB connections checked out", size - stats.get("pool_available", 0))
        yield gauge("ticketing_db_pool_waiting", "Requests waiting for a DB connection",
                    stats.get("requests_waiting", 0))
        yield from self.mailer.collect()


_JSON = "application/json"


def _event(event_id: int, name: str, inventory: int, remaining: int) -> dict:
    return {"id": event_id, "name": name, "inventory": inventory, "remaining": remaining,
            "granted": inventory - remaining}


def _json_body(environ: dict, optional: bool = False) -> dict:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length > MAX_BODY:
        raise HttpError(413, f"body larger than {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        if optional:
            return {}
        raise HttpError(400, "a JSON body is required")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise HttpError(400, f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    return body


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _ThrottledLog:
    """Log the first error each second with its traceback; count the rest."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._last = 0.0
        self._suppressed = 0

    def exception(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < 1.0:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        extra = f" (+{suppressed} similar errors in the last second)" if suppressed else ""
        self._log.error("%s: %s: %s%s", what, type(exc).__name__, exc, extra, exc_info=exc)
