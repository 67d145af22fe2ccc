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

import collections
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable, Optional


class ThreadStartError(RuntimeError):
    """No idle request thread and the OS refused to start a new one."""


class _Worker:
    __slots__ = ("wake", "item")

    def __init__(self, item: Optional[tuple]) -> None:
        self.wake = threading.Event()
        self.item = item


class ElasticThreadPool:
    """Work is handed directly to an idle thread (never left for "some" thread to
    find), so a thread that retires can never strand work. Overflow (all
    `max_workers` threads busy) waits in a FIFO picked up by the next thread to finish."""

    def __init__(self, max_workers: int, idle_timeout_s: float = 0.0,
                 thread_name_prefix: str = "request") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._idle_timeout_s = idle_timeout_s
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []          # LIFO: the most recently idle thread is reused first
        self._overflow: collections.deque = collections.deque()
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

    @property
    def queued(self) -> int:
        return len(self._overflow)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self.submit_item((future, fn, args))
        return future

    def submit_item(self, item: tuple) -> None:
        """``submit`` for a prepared ``(future, fn, args)``; raises ThreadStartError like it."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            if self._idle:
                worker = self._idle.pop()
                worker.item = item
                worker.wake.set()
                return
            if self._live >= self.max_workers:
                self._overflow.append(item)  # every thread busy: wait for one (bounded by the server)
                return
            self._live += 1
        self._start_thread(_Worker(item))

    def enqueue_if_alive(self, item: tuple) -> bool:
        """Queue work for a live thread to take when it finishes (idle ones are handed it at once);
        False when no request thread is alive to take it."""
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                worker.item = item
                worker.wake.set()
                return True
            if self._live == 0 or self._shutdown:
                return False
            self._overflow.append(item)
            return True

    def _start_thread(self, worker: _Worker) -> None:
        thread = threading.Thread(target=self._run, args=(worker,),
                                  name=f"{self._prefix}-{next(self._names)}", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread": pids/threads exhausted
            with self._lock:
                self._live -= 1
                self.start_failures += 1
            raise ThreadStartError(str(exc)) from exc

    def _run(self, worker: _Worker) -> None:
        item = worker.item
        while item is not None:
            self._execute(item)
            item = self._next(worker)  # None: this thread is no longer counted live

    def _execute(self, item: tuple) -> None:
        future, fn, args = item
        if not future.set_running_or_notify_cancel():
            return
        with self._lock:
            self._busy += 1
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the future's owner
            future.set_exception(exc)
        finally:
            with self._lock:
                self._busy -= 1

    def _next(self, worker: _Worker) -> Optional[tuple]:
        """The next work item for this thread, or None to retire. A retiring thread stops counting
        as live in the same locked step that finds no work, so work queued for "a live thread"
        (``enqueue_if_alive``) is never left to a thread that is already leaving."""
        with self._lock:
            if self._overflow:
                return self._overflow.popleft()
            if self._shutdown:
                self._live -= 1
                return None
            worker.item = None
            worker.wake.clear()
            self._idle.append(worker)
        worker.wake.wait(self._idle_timeout_s)
        with self._lock:
            if worker.item is None and worker in self._idle:  # nobody handed us work in time
                self._idle.remove(worker)
                self._live -= 1
                return None
        worker.wake.wait()  # handed work (or shutdown) just as we timed out
        if worker.item is None:
            with self._lock:
                self._live -= 1
        return worker.item

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._shutdown = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.item = None
            worker.wake.set()
