"""Process-wide handles the metrics collector reads (one gunicorn worker per container).

The server creates the request pool before the WSGI app exists; this module is
where the two meet. Nothing else lives here.
"""

from __future__ import annotations

import threading
from typing import Optional

from .threadpool import ElasticThreadPool
from .throttle import Throttle

request_pool: Optional[ElasticThreadPool] = None
throttle: Optional[Throttle] = None
connections_max: Optional[int] = None  # WORKER_CONNECTIONS + BACKLOG + 1, set by the worker

_lock = threading.Lock()
requests_rejected = 0


def note_request_rejected() -> None:
    global requests_rejected
    with _lock:
        requests_rejected += 1
