"""What happens to a request when no request thread can take it (REQUEST_OVERFLOW).

The request pool (threadpool.py) is bounded by THREADS; when every thread is busy the work
waits in the pool's FIFO. The other overflow is a thread that cannot start because the
process's thread budget (a container ``pids_limit``) is spent. Real servers handle that
moment in one of two ways, and both are modelled:

* ``wait`` (default): the request waits for a slot, like gunicorn's sync/gthread workers,
  the nginx upstream queue or Tomcat's ``acceptCount``. Nothing fails at once: the wait is
  bounded by the server's open connections (WORKER_CONNECTIONS) and, beyond those, by the
  kernel's listen queue (BACKLOG); callers see latency first, then their own timeouts.
* ``reject``: fast fail — the acceptor answers 503 at once (a bounded pool with no queue,
  Envoy's overflow). Latency stays low; errors show up at once.

``Throttle`` keeps the parked work for ``wait``: a request whose thread could not start is
handed to the pool's FIFO when some request thread is alive (it takes it when it finishes),
or parked and retried every ``retry_s`` by one thread started at boot (so the retry itself
never needs a new thread). Only the standard library: unit-tested without the server.
"""

from __future__ import annotations

import collections
import threading
from concurrent.futures import Future
from typing import Any, Callable

from .threadpool import ElasticThreadPool, ThreadStartError

OVERFLOW_MODES = ("wait", "reject")


class Throttle:
    def __init__(self, pool: ElasticThreadPool, overflow: str = "wait", retry_s: float = 0.05) -> None:
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, got {overflow!r}")
        self.pool = pool
        self.overflow = overflow
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._parked: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._stopped = False
        self._retrier: threading.Thread | None = None
        if overflow == "wait":
            self._retrier = threading.Thread(target=self._retry_loop, name="throttle-retry", daemon=True)
            self._retrier.start()

    # -- gauges ----------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return self.pool.max_workers

    @property
    def busy(self) -> int:
        return self.pool.busy

    @property
    def waiting(self) -> int:
        """Requests accepted but not yet running: in the pool's FIFO or parked for a thread."""
        return self.pool.queued + len(self._parked)

    # -- submit ----------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on a request thread. ``reject``: raises ThreadStartError when no
        thread can start; ``wait``: never raises for that, the work waits for a thread."""
        try:
            return self.pool.submit(fn, *args)
        except ThreadStartError:
            if self.overflow == "reject":
                raise
        future: Future = Future()
        item = (future, fn, args)
        if not self.pool.enqueue_if_alive(item):
            with self._lock:
                self._parked.append(item)
            self._wake.set()
        return future

    def _retry_loop(self) -> None:
        while not self._stopped:
            self._wake.wait(self._retry_s)
            self._wake.clear()
            self._drain()
            if self._parked:
                self._wake.wait(self._retry_s)  # the budget is spent: try again a little later

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._parked:
                    return
                item = self._parked.popleft()
            if self.pool.enqueue_if_alive(item):
                continue
            try:
                self.pool.submit_item(item)
            except ThreadStartError:
                with self._lock:
                    self._parked.appendleft(item)
                return

    def shutdown(self, wait: bool = True) -> None:
        """The executor interface gunicorn calls on exit."""
        self._stopped = True
        self._wake.set()
        self.pool.shutdown(wait)
