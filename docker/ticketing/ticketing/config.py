"""Configuration from the environment: parsed and validated once, at start.

Pure (no I/O beyond reading the mapping it is given), so it is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

MAIL_MODES = ("thread", "pool", "skip")
ENTRY_MODES = ("locking", "queued")
OVERFLOW_MODES = ("wait", "reject")  # throttle.py: a request with no thread waits, or is answered 503

# thread mode reproduces the incident: a long timeout. pool mode is the fix: short.
DEFAULT_MAIL_TIMEOUT_S = {"thread": 30.0, "pool": 3.0, "skip": 3.0}


class ConfigError(ValueError):
    """An environment variable has a bad value; the message names it and the fix."""


@dataclass(frozen=True)
class Config:
    database_url: str
    smtp_host: str
    smtp_port: int
    mail_mode: str
    mail_timeout_s: float
    mail_from: str
    mail_workers: int
    mail_thread_limit: int
    mail_queue_size: int
    mail_breaker_failures: int
    mail_breaker_cooldown_s: float
    entry_mode: str
    port: int
    threads: int
    thread_idle_s: float
    request_overflow: str
    worker_connections: int
    backlog: int
    db_pool_size: int
    db_pool_timeout_s: float
    db_connect_timeout_s: float
    lock_wait_threshold_ms: float
    allocator_interval_ms: float
    allocator_batch: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Config":
        mail_mode = _choice(env, "MAIL_MODE", "thread", MAIL_MODES)
        smtp_host, smtp_port = _host_port(env, "SMTP_ADDR", "mail:1025")
        return cls(
            database_url=env.get("DATABASE_URL", "postgresql://app@db:5432/tickets"),
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            mail_mode=mail_mode,
            mail_timeout_s=_float(env, "MAIL_TIMEOUT_S", DEFAULT_MAIL_TIMEOUT_S[mail_mode], lo=0.05),
            mail_from=env.get("MAIL_FROM", "no-reply@tickets.example"),
            mail_workers=_int(env, "MAIL_WORKERS", 4, lo=1, hi=256),
            mail_thread_limit=_int(env, "MAIL_THREAD_LIMIT", 0, lo=0, hi=100_000),
            mail_queue_size=_int(env, "MAIL_QUEUE_SIZE", 100, lo=1),
            mail_breaker_failures=_int(env, "MAIL_BREAKER_FAILURES", 5, lo=1),
            mail_breaker_cooldown_s=_float(env, "MAIL_BREAKER_COOLDOWN_S", 10.0, lo=0.0),
            entry_mode=_choice(env, "ENTRY_MODE", "locking", ENTRY_MODES),
            port=_int(env, "PORT", 8000, lo=1, hi=65535),
            threads=_int(env, "THREADS", 32, lo=1, hi=4096),
            thread_idle_s=_float(env, "THREAD_IDLE_S", 0.0, lo=0.0),
            request_overflow=_choice(env, "REQUEST_OVERFLOW", "wait", OVERFLOW_MODES),
            worker_connections=_int(env, "WORKER_CONNECTIONS", 1000, lo=1, hi=100_000),
            backlog=_int(env, "BACKLOG", 1024, lo=1, hi=65535),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10, lo=1, hi=1000),
            db_pool_timeout_s=_float(env, "DB_POOL_TIMEOUT_S", 5.0, lo=0.01),
            db_connect_timeout_s=_float(env, "DB_CONNECT_TIMEOUT_S", 5.0, lo=1.0),
            lock_wait_threshold_ms=_float(env, "LOCK_WAIT_THRESHOLD_MS", 50.0, lo=0.0),
            allocator_interval_ms=_float(env, "ALLOCATOR_INTERVAL_MS", 100.0, lo=1.0),
            allocator_batch=_int(env, "ALLOCATOR_BATCH", 500, lo=1),
        )


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _raw(env, name)
    if value is None:
        return default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int | None = None) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None
    if number < lo or (hi is not None and number > hi):
        bounds = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ConfigError(f"{name}={number} must be {bounds}")
    return number


def _float(env: Mapping[str, str], name: str, default: float, lo: float) -> float:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number (seconds/milliseconds as a decimal)") from None
    if not number >= lo:  # also rejects NaN
        raise ConfigError(f"{name}={value} must be >= {lo}")
    return number


def _host_port(env: Mapping[str, str], name: str, default: str) -> tuple[str, int]:
    value = _raw(env, name) or default
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}={value!r} must be host:port, e.g. mail:1025")
    return host.strip("[]"), int(port)
