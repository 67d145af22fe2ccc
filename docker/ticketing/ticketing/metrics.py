"""Prometheus metrics of the app (one registry per process, text format on /metrics)."""

from __future__ import annotations

import threading
from typing import Callable, Iterable

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, Info,
                               PlatformCollector, ProcessCollector, generate_latest)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LOCK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.info = Info("ticketing", "App build and switches", registry=r)
        self.ready = Gauge("ticketing_ready", "1 when the schema is ready and the DB pool open", registry=r)
        self.in_flight = Gauge("ticketing_requests_in_flight", "HTTP requests being handled", registry=r)
        self.latency = Histogram("ticketing_http_request_duration_seconds", "Request latency by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("ticketing_http_requests", "Requests by route and status",
                                ["route", "method", "status"], registry=r)
        self.signups = Counter("ticketing_signups", "Sign-ups by result", ["result"], registry=r)
        self.mail_sent = Counter("ticketing_mail_sent", "Verification/recovery mails accepted by SMTP",
                                 ["kind"], registry=r)
        self.mail_failed = Counter("ticketing_mail_failed", "Mails that failed (timeout, refused, SMTP error)",
                                   ["kind", "reason"], registry=r)
        self.mail_skipped = Counter("ticketing_mail_skipped",
                                    "Mails not attempted; the user stays verification-pending",
                                    ["reason"], registry=r)
        self.mail_thread_start_failures = Counter(
            "ticketing_mail_thread_start_failures", "thread mode: a mail thread could not be started", registry=r)
        self.entries = Counter("ticketing_entries", "Entry requests by result", ["mode", "result"], registry=r)
        self.granted = Counter("ticketing_entries_granted", "Tickets granted (all modes, incl. allocator)",
                               registry=r)
        self.lock_wait = Histogram("ticketing_db_lock_wait_seconds",
                                   "Time to obtain the event inventory row lock (SELECT ... FOR UPDATE)",
                                   buckets=LOCK_BUCKETS, registry=r)
        self.lock_waits = Counter("ticketing_db_lock_waits",
                                  "Inventory row lock acquisitions slower than LOCK_WAIT_THRESHOLD_MS", registry=r)
        self.lock_waiting = Gauge("ticketing_db_lock_waiting", "Requests now waiting for the inventory row lock",
                                  registry=r)
        self.db_errors = Counter("ticketing_db_errors", "DB errors seen by requests", ["kind"], registry=r)
        self.allocator_runs = Counter("ticketing_allocator_runs", "queued mode: allocator passes that granted",
                                      registry=r)

    def add_live(self, collect: Callable[[], Iterable]) -> None:
        self.registry.register(_Live(collect))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live:
    """Values read at scrape time from the objects that own them."""

    def __init__(self, collect: Callable[[], Iterable]) -> None:
        self._collect = collect

    def collect(self) -> Iterable:
        yield gauge("ticketing_threads_live", "Live Python threads in the process (threading.active_count())",
                    threading.active_count())
        pool = runtime.request_pool
        if pool is not None:
            yield gauge("ticketing_request_threads", "Request threads alive", pool.live)
            yield gauge("ticketing_request_threads_busy", "Request threads handling a request", pool.busy)
            yield gauge("ticketing_request_threads_max", "Request thread bound (THREADS)", pool.max_workers)
        throttle = runtime.throttle
        if throttle is not None:
            yield gauge("ticketing_throttle_busy", "Requests running on a request thread", throttle.busy)
            yield gauge("ticketing_throttle_waiting",
                        "Requests accepted and waiting for a request thread (REQUEST_OVERFLOW=wait)",
                        throttle.waiting)
            yield gauge("ticketing_throttle_limit", "Requests that can run at once (THREADS)", throttle.limit)
        if runtime.connections_max is not None:
            yield gauge("ticketing_connections_max",
                        "Client connections the server can hold open: WORKER_CONNECTIONS accepted, "
                        "BACKLOG + 1 waiting in the kernel's listen queue", runtime.connections_max)
        rejected = CounterMetricFamily("ticketing_requests_rejected",
                                       "Requests answered 503 by the acceptor: no request thread could start",
                                       labels=["reason"])
        rejected.add_metric(["no_thread"], runtime.requests_rejected)
        yield rejected
        yield from self._collect()


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)
