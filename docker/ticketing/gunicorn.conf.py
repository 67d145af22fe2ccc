"""gunicorn settings for the ticketing app: one process, a bounded set of request threads."""

import os
import sys

sys.path.insert(0, "/opt/ticketing")
from ticketing.config import Config, ConfigError  # noqa: E402

try:
    _cfg = Config.from_env(os.environ)  # fail fast, before forking, with the variable's name
except ConfigError as _exc:
    print(f"ticketing: bad configuration: {_exc}", file=sys.stderr)
    sys.exit(2)

bind = f"0.0.0.0:{_cfg.port}"
workers = 1                    # one process: every thread shares one budget (the pids limit)
worker_class = "ticketing.server.BoundedThreadWorker"
threads = _cfg.threads         # request threads, bounded (THREADS)
worker_connections = _cfg.worker_connections  # open client connections: beyond these, accepting stops
backlog = _cfg.backlog         # ... and connections wait in the kernel's listen queue; beyond it, SYNs drop
keepalive = 5
timeout = 120                  # gthread heartbeats from its acceptor loop, not from requests
graceful_timeout = 5
accesslog = "-" if os.environ.get("ACCESS_LOG", "off") == "on" else None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
