"""Elastic, bounded request-thread pool (the app server's request threads).

Threads are started on demand, up to `max_workers`, and retire after
`idle_timeout_s` without work (0 = as soon as nothing is queued: one thread per
request, the model of a thread-per-request server). This is how request threads
share the process's thread budget with everything else the app starts: when the
budget (a container `pids_limit`) is used up by other threads, a request that
finds no idle thread cannot get one, and `submit` raises `ThreadStartError` so
the server can answer 503 instead of crashing.

Only the standard library: unit-tested without the server.
"""

from __future__ import annotations

import itertools
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable


class ThreadStartError(RuntimeError):
    """No idle request thread and the OS refused to start a new one."""


class ElasticThreadPool:
    def __init__(self, max_workers: int, idle_timeout_s: float = 0.0,
                 thread_name_prefix: str = "request") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._idle_timeout_s = idle_timeout_s
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one token per idle, unclaimed thread
        self._lock = threading.Lock()
        self._live = 0
        self._busy = 0
        self._names = itertools.count(1)
        self._shutdown = False
        self.start_failures = 0

    @property
    def live(self) -> int:
        return self._live

    @property
    def busy(self) -> int:
        return self._busy

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        if not self._idle.acquire(blocking=False):
            with self._lock:
                grow = self._live < self.max_workers
                if grow:
                    self._live += 1
            if grow:
                self._start_thread()
            # else: every thread is busy and the pool is at its bound: queue
            # the work, like any bounded pool (the server bounds the queue).
        future: Future = Future()
        self._queue.put((future, fn, args))
        return future

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name=f"{self._prefix}-{next(self._names)}", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread": pids/threads exhausted
            with self._lock:
                self._live -= 1
                self.start_failures += 1
            raise ThreadStartError(str(exc)) from exc

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self._idle_timeout_s)
                except queue.Empty:
                    if self._idle.acquire(blocking=False):
                        return  # retire: one idle thread fewer
                    # A submitter already claimed an idle thread; its work is on the way.
                    item = self._queue.get()
                if item is None:
                    return
                future, fn, args = item
                if future.set_running_or_notify_cancel():
                    with self._lock:
                        self._busy += 1
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # handed to the future's owner
                        future.set_exception(exc)
                    finally:
                        with self._lock:
                            self._busy -= 1
                self._idle.release()
        finally:
            with self._lock:
                self._live -= 1

    def shutdown(self, wait: bool = True) -> None:
        self._shutdown = True
        with self._lock:
            live = self._live
        for _ in range(live):
            self._queue.put(None)
