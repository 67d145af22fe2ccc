"""Verification mail at sign-up, in three modes (MAIL_MODE), and recovery resends.

* thread - the incident: one new thread per mail, long timeout. When SMTP is slow
  the threads pile up; when the process cannot start another one, the sign-up
  request fails with 500 (the user row is already committed, still pending).
  With MAIL_THREAD_LIMIT the mail threads are bounded instead: at the limit a
  sign-up waits on its request thread for one to end, so a slow provider pins the
  request threads and every request queues behind them (latency first, then timeouts).
* pool   - the fix: a fixed set of MAIL_WORKERS threads (started at boot) behind a
  bounded queue, short timeout, and a circuit breaker. Queue full or breaker
  open -> the user simply stays "verification pending"; sign-up never blocks.
* skip   - the temporary fix from the talk: don't send; mark pending. Send later
  with POST /admin/resend-verifications.
"""

from __future__ import annotations

import itertools
import logging
import queue
import smtplib
import socket
import threading
import time
from email.message import EmailMessage
from typing import Callable, Optional

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .breaker import STATE_CODES, CircuitBreaker
from .config import Config
from .metrics import Metrics, gauge

log = logging.getLogger("ticketing.mail")

PENDING, SENDING = "pending", "sending"


def build_message(sender: str, to: str, kind: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Verify your e-mail" if kind == "verification" else "Please verify your e-mail (resent)"
    msg.set_content(f"Welcome! Confirm {to} to finish signing up.\n")
    return msg


def _reason(exc: BaseException) -> str:
    # smtplib reports a greeting that never came as SMTPServerDisconnected("... timed out")
    if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, smtplib.SMTPException):
        return "smtp_error"
    return "network"


class Mailer:
    """Sends mail and records the outcome on the user row."""

    def __init__(self, config: Config, metrics: Metrics, pool: Callable[[], Optional[ConnectionPool]]) -> None:
        self.config = config
        self.metrics = metrics
        self._pool = pool
        self._lock = threading.Lock()
        self.in_flight = 0
        self._names = itertools.count(1)
        self.breaker = CircuitBreaker(config.mail_breaker_failures, config.mail_breaker_cooldown_s)
        self._queue: "queue.Queue[tuple[int, str]]" = queue.Queue(maxsize=config.mail_queue_size)
        self._resend_lock = threading.Lock()
        limit = config.mail_thread_limit
        self._slots = threading.BoundedSemaphore(limit) if config.mail_mode == "thread" and limit else None
        self.waiting_for_thread = 0
        if config.mail_mode == "pool":
            for i in range(config.mail_workers):
                threading.Thread(target=self._pool_worker, name=f"mail-worker-{i + 1}", daemon=True).start()

    # -- sign-up ---------------------------------------------------------------
    def submit(self, user_id: int, email: str) -> str:
        """Start sending the verification; returns the state to report to the client."""
        mode = self.config.mail_mode
        if mode == "skip":
            self.metrics.mail_skipped.labels("skip_mode").inc()
            return PENDING
        if mode == "thread":
            self._take_thread_slot()
            thread = threading.Thread(target=self._send_in_thread, args=(user_id, email),
                                      name=f"mail-{next(self._names)}", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                self._release_thread_slot()
                self.metrics.mail_thread_start_failures.inc()
                raise  # the request fails (500), as in the incident
            return SENDING
        # pool
        if not self.breaker.allow():
            self.metrics.mail_skipped.labels("breaker_open").inc()
            return PENDING
        try:
            self._queue.put_nowait((user_id, email))
        except queue.Full:
            self.metrics.mail_skipped.labels("queue_full").inc()
            self._breaker_release()
            return PENDING
        return SENDING

    def _take_thread_slot(self) -> None:
        """thread mode with MAIL_THREAD_LIMIT: the sign-up waits (on its request thread) until a mail
        thread ends, as a caller of a bounded executor does; after MAIL_TIMEOUT_S it gives up (500)."""
        if self._slots is None:
            return
        with self._lock:
            self.waiting_for_thread += 1
        try:
            if not self._slots.acquire(timeout=self.config.mail_timeout_s):
                self.metrics.mail_thread_start_failures.inc()
                raise RuntimeError(f"no mail thread free within {self.config.mail_timeout_s:g}s "
                                   f"(MAIL_THREAD_LIMIT={self.config.mail_thread_limit})")
        finally:
            with self._lock:
                self.waiting_for_thread -= 1

    def _release_thread_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _send_in_thread(self, user_id: int, email: str) -> None:
        try:
            self._send_and_record(user_id, email, "verification")
        finally:
            self._release_thread_slot()

    def _breaker_release(self) -> None:
        # allow() may have granted the half-open trial to a job that never ran.
        if self.breaker.state != "closed":
            self.breaker.record_failure()

    def _pool_worker(self) -> None:
        while True:
            user_id, email = self._queue.get()
            if self.breaker.state == "open":  # opened while this job waited: don't wait out a timeout
                self.metrics.mail_skipped.labels("breaker_open").inc()
                continue
            try:
                ok = self._send_and_record(user_id, email, "verification")
            except Exception:  # never let a worker die
                log.exception("mail worker error")
                ok = False
            (self.breaker.record_success if ok else self.breaker.record_failure)()

    # -- sending ---------------------------------------------------------------
    def _send_and_record(self, user_id: int, email: str, kind: str) -> bool:
        with self._lock:
            self.in_flight += 1
        try:
            try:
                self._send_one(email, kind)
            except (OSError, smtplib.SMTPException) as exc:
                self.metrics.mail_failed.labels(kind, _reason(exc)).inc()
                log.warning("%s mail to %s failed: %s: %s", kind, email, type(exc).__name__, exc)
                return False
            self.metrics.mail_sent.labels(kind).inc()
            self._mark_sent([user_id])
            return True
        finally:
            with self._lock:
                self.in_flight -= 1

    def _send_one(self, email: str, kind: str) -> None:
        cfg = self.config
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.mail_timeout_s,
                          local_hostname="ticketing") as smtp:
            smtp.send_message(build_message(cfg.mail_from, email, kind))

    def _mark_sent(self, user_ids: list[int]) -> None:
        pool = self._pool()
        if pool is None or not user_ids:
            return
        try:
            with pool.connection() as conn:
                conn.execute("UPDATE users SET verification = 'sent', verified_mail_at = now() "
                              "WHERE id = ANY(%s)", (user_ids,))
        except Exception as exc:  # the mail went out; only the bookkeeping failed
            log.warning("could not mark %d user(s) as sent: %s", len(user_ids), exc)

    # -- recovery --------------------------------------------------------------
    def resend_pending(self, limit: int, max_consecutive_failures: int = 5) -> Optional[dict]:
        """Send the recovery mail to pending users, oldest first, over one SMTP
        connection (reconnecting on error). Bounded by `limit` and stopped early
        after `max_consecutive_failures`. Returns None when a resend is already running."""
        if not self._resend_lock.acquire(blocking=False):
            return None
        try:
            return self._resend(limit, max_consecutive_failures)
        finally:
            self._resend_lock.release()

    def _resend(self, limit: int, max_failures: int) -> dict:
        pool = self._pool()
        assert pool is not None
        with pool.connection() as conn:
            users = conn.execute("SELECT id, email FROM users WHERE verification = 'pending' "
                                 "ORDER BY id LIMIT %s", (limit,)).fetchall()
        cfg = self.config
        started = time.monotonic()
        sent: list[int] = []
        failed = consecutive = 0
        smtp: Optional[smtplib.SMTP] = None
        aborted = False
        try:
            for user_id, email in users:
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.mail_timeout_s,
                                            local_hostname="ticketing")
                    smtp.send_message(build_message(cfg.mail_from, email, "recovery"))
                except (OSError, smtplib.SMTPException) as exc:
                    failed += 1
                    consecutive += 1
                    self.metrics.mail_failed.labels("recovery", _reason(exc)).inc()
                    _close(smtp)
                    smtp = None
                    if consecutive >= max_failures:
                        aborted = True
                        break
                    continue
                consecutive = 0
                sent.append(user_id)
                self.metrics.mail_sent.labels("recovery").inc()
                if len(sent) % 100 == 0:
                    self._mark_sent(sent[-100:])
        finally:
            _close(smtp)
            self._mark_sent(sent[len(sent) - len(sent) % 100:])
        with pool.connection() as conn:
            remaining = conn.execute("SELECT count(*) FROM users WHERE verification = 'pending'").fetchone()[0]
        return {"attempted": len(sent) + failed, "sent": len(sent), "failed": failed, "aborted": aborted,
                "remaining_pending": remaining, "seconds": round(time.monotonic() - started, 3)}

    # -- metrics ---------------------------------------------------------------
    def collect(self):
        yield gauge("ticketing_mail_jobs_pending", "Mail jobs queued, not started (pool mode)",
                    self._queue.qsize())
        yield gauge("ticketing_mail_jobs_in_flight", "Mails being sent now (thread mode: live mail threads)",
                    self.in_flight)
        yield gauge("ticketing_mail_queue_capacity", "Mail queue bound (pool mode)", self.config.mail_queue_size)
        yield gauge("ticketing_mail_thread_limit", "thread mode: mail threads at most (MAIL_THREAD_LIMIT, 0 = none)",
                    self.config.mail_thread_limit)
        yield gauge("ticketing_mail_waiting_for_thread",
                    "thread mode: sign-ups waiting for a mail thread to end (MAIL_THREAD_LIMIT reached)",
                    self.waiting_for_thread)
        yield gauge("ticketing_mail_breaker_state", "Mail circuit breaker: 0 closed, 1 half-open, 2 open",
                    STATE_CODES[self.breaker.state])
        counts = self._user_counts()
        if counts is not None:
            yield gauge("ticketing_users", "Registered users", counts[0])
            yield gauge("ticketing_users_pending_verification",
                        "Users whose verification mail was never accepted by SMTP", counts[1])

    def _user_counts(self) -> Optional[tuple[int, int]]:
        """Read at scrape time; skipped (not blocking the scrape) when no pooled connection is free."""
        pool = self._pool()
        if pool is None:
            return None
        try:
            with pool.connection(timeout=0.2) as conn:
                row = conn.execute("SELECT count(*), count(*) FILTER (WHERE verification = 'pending') "
                                   "FROM users").fetchone()
        except (psycopg.Error, PoolTimeout, OSError):  # a scrape must not fail because the DB is busy or away
            return None
        return int(row[0]), int(row[1])


def _close(smtp: Optional[smtplib.SMTP]) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
