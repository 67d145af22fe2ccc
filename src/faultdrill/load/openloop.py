"""The open (arrival-rate) model: each journey starts at its intended time, whether or not the
target keeps up — the way customers arrive when a sale opens.

One scheduler greenlet walks the exact intended send times (``shape.arrival_times``) and hands
each arrival to an idle simulated user picked by class weight, with one ``@task`` picked by task
weight. A user serves one arrival at a time and keeps its connections between arrivals, like a
returning client. Each user has one long-lived greenlet that waits for its next arrival: handing
an arrival over is one hub callback, where spawning a greenlet per arrival cost a spawn, a start,
a link and an unlink, and a connection-owner bind/unbind each time (about half the generator's
CPU at a few hundred arrivals/s). Honesty, per second of intended time:

* latency is measured from the **intended** start: the delay between the intended time and the
  arrival's real start is added to its first request (no coordinated omission);
* a send more than ``late_after`` after its intended time is **late**; the worst lag is reported;
* when ``max_in_flight`` arrivals are running, a new arrival is **dropped** (never queued: a queue
  would hide the overload). The loop starts right after the parent's start (its run clock's
  origin): arrivals due in the moments before that are sent at once, late and measured from
  their intended time; only those more than ``CATCH_UP_S`` overdue are dropped (a burst of them
  would be load the shape never asked for).

Only the load child imports this module.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
from gevent.pool import Group
from greenlet import greenlet
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser

from faultdrill.histograms import OpenStats
from faultdrill.load.netcount import ConnTracker
from faultdrill.load.shape import Segment, arrival_times
from faultdrill.load.users import task_functions

log = logging.getLogger("faultdrill.load.open")

CATCH_UP_S = 1.0  # arrivals overdue by up to this when the loop starts are sent late, older ones dropped


class OpenLoop:
    def __init__(self, environment: Any, user_classes: Sequence[type], segments: Sequence[Segment], *,
                 t0: float, duration: float, max_in_flight: int, late_after: float,
                 open_stats: Callable[[int], OpenStats], tracker: ConnTracker | None,
                 index: int = 0, stride: int = 1, seed: int | None = None) -> None:
        self.env = environment
        self.classes = list(user_classes)
        self.weights = [float(getattr(c, "weight", 1) or 0) for c in self.classes]
        if not any(w > 0 for w in self.weights):
            raise ValueError("open mode needs at least one user class with a weight above 0")
        self.tasks = {c: task_functions(c) for c in self.classes}
        self.segments, self.t0, self.duration = list(segments), t0, duration
        self.max_in_flight, self.late_after = max_in_flight, late_after
        self.open_stats, self.tracker = open_stats, tracker
        self.index, self.stride = index, stride
        self.rng = random.Random(seed if seed is None else seed * 1009 + index)
        self.group = Group()  # the users' greenlets
        self.idle: dict[type, list[greenlet]] = {c: [] for c in self.classes}
        self.all_users: list[Any] = []
        self.in_flight = 0
        self.all_done = gevent.event.Event()  # set whenever no arrival is running
        self.all_done.set()
        self.journey_errors = 0
        self._delay: dict[Any, float] = {}  # user greenlet -> schedule delay of its current arrival (ms)
        self._scheduler: gevent.Greenlet[..., None] | None = None

    # -- the scheduler ---------------------------------------------------------------
    def start(self) -> None:
        catch_up_from = max(0.0, time.monotonic() - self.t0 - CATCH_UP_S)
        # Arrivals due long before the generator ran were never sent: count them, honestly, as dropped.
        for intended in arrival_times(self.segments, min(catch_up_from, self.duration), index=self.index,
                                      stride=self.stride):
            stats = self.open_stats(int(intended))
            stats.intended += 1
            stats.dropped += 1
        self._scheduler = gevent.spawn(self._schedule, catch_up_from)

    def _schedule(self, started: float) -> None:
        run_callback = gevent.get_hub().loop.run_callback
        t0, monotonic, sleep = self.t0, time.monotonic, gevent.sleep
        for intended in arrival_times(self.segments, self.duration, index=self.index, stride=self.stride,
                                      start=started):
            wait = intended - (monotonic() - t0)
            if wait > 0:
                sleep(wait)
            stats = self.open_stats(int(intended))
            stats.intended += 1
            if self.in_flight >= self.max_in_flight:
                stats.dropped += 1
                continue
            cls = self.rng.choices(self.classes, self.weights)[0]
            task = self.rng.choice(self.tasks[cls])
            idle = self.idle[cls]
            worker = idle.pop() if idle else self._new_user(cls)
            self.in_flight += 1
            self.all_done.clear()
            run_callback(worker.switch, (intended, task))  # wakes the user's greenlet (see ``_serve``)

    def _new_user(self, cls: type) -> gevent.Greenlet[..., None]:
        user = cls(self.env)
        self.all_users.append(user)
        worker = self.group.spawn(self._serve, user)
        return worker

    # -- one user, arrival after arrival -----------------------------------------------
    def _serve(self, user: Any) -> None:
        """The user's greenlet: park in the hub until the scheduler hands over an arrival, run it, park again."""
        current = gevent.getcurrent()
        hub = gevent.get_hub()
        idle = self.idle[type(user)]
        if self.tracker is not None:
            self.tracker.bind(current, user)  # every connection this greenlet makes is the user's
        try:
            while True:
                arrival = hub.switch()
                if type(arrival) is not tuple:
                    continue
                try:
                    self._arrival(current, user, *arrival)
                finally:
                    self.in_flight -= 1
                    if not self.in_flight:
                        self.all_done.set()
                idle.append(current)
        finally:
            self._delay.pop(current, None)
            if self.tracker is not None:
                self.tracker.unbind(current)

    def _arrival(self, current: Any, user: Any, intended: float, task: Callable[[Any], Any]) -> None:
        lag = time.monotonic() - self.t0 - intended
        stats = self.open_stats(int(intended))
        stats.sent += 1
        if lag * 1000.0 > stats.lag_ms:
            stats.lag_ms = lag * 1000.0
        if lag > self.late_after:
            stats.late += 1
        self._delay[current] = lag * 1000.0
        try:
            if not getattr(user, "_fd_started", False):
                user._fd_started = True
                user.on_start()
            task(user)
        except (RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet, StopUser):
            pass
        except gevent.GreenletExit:
            raise
        except Exception as exc:
            self.journey_errors += 1
            if self.journey_errors <= 5 or self.journey_errors % 1000 == 0:
                log.warning("journey %s failed (%d so far): %s: %s", type(user).__name__,
                            self.journey_errors, type(exc).__name__, exc)
            self.env.events.user_error.fire(user_instance=user, exception=exc, tb=exc.__traceback__)
        finally:
            self._delay.pop(current, None)

    def take_delay_ms(self) -> float:
        """The schedule delay of the current arrival, once (added to its first request's latency)."""
        return self._delay.pop(gevent.getcurrent(), 0.0)

    # -- stopping --------------------------------------------------------------------
    def stop(self, timeout: float = 2.0) -> None:
        """Stop scheduling, give running arrivals ``timeout`` s, then stop users and close connections."""
        if self._scheduler is not None:
            self._scheduler.kill(block=True, timeout=1)
        self.all_done.wait(timeout=timeout)
        self.group.kill(block=True, timeout=1)
        for user in self.all_users:
            if getattr(user, "_fd_started", False):
                try:
                    user.on_stop()
                except Exception as exc:
                    log.debug("on_stop of %s failed: %s", type(user).__name__, exc)
            user.fd_close()
        self.all_users.clear()
