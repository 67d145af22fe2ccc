"""The bundled demo stack as a scenario dict, for tests that need it with particular switches."""

from __future__ import annotations

from typing import Any


def demo_stack(mail_mode: str = "thread", entry_mode: str = "locking", mail_timeout_s: int = 30,
               pids_limit: int = 128, threads: int = 32, ingress: bool = False,
               overflow: str = "wait") -> dict[str, Any]:
    services: dict[str, Any] = {
        "db": {"build": "../docker/postgres", "health": {"cmd": ["pg_isready", "-U", "app", "-d", "tickets"]},
               "postgres": {"user": "app", "database": "tickets"}},
        "mail": {"build": "../docker/smtp-sink", "ports": [8025], "health": {"http": "/healthz"}},
        "app": {"build": "../docker/ticketing", "ports": [8000], "health": {"http": "/healthz", "timeout": "60s"},
                "pids_limit": pids_limit, "metrics": {"path": "/metrics"},
                "env": {"DATABASE_URL": "postgresql://app@${proxy.db}/tickets", "SMTP_ADDR": "${proxy.mail}",
                        "MAIL_MODE": mail_mode, "MAIL_TIMEOUT_S": str(mail_timeout_s), "ENTRY_MODE": entry_mode,
                        "THREADS": str(threads), "REQUEST_OVERFLOW": overflow}},
    }
    if ingress:
        services["ingress"] = {"build": "../docker/ingress", "ports": [8443, 9443, 8080],
                               "env": {"UPSTREAM": "app:8000"}, "health": {"tcp": 8443}}
    return {
        "name": "demo-stack",
        "stack": {"services": services},
        "proxies": {"db": {"upstream": "db:5432"}, "mail": {"upstream": "mail:1025"}},
        "load": {"journeys": "builtin:smoke", "host": "${service.app.url}", "shape": [{"until": "10s", "users": 1}]},
    }
