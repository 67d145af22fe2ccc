"""The demo app's request overflow (docker/ticketing/ticketing/throttle.py): with REQUEST_OVERFLOW=wait
a request whose thread cannot start waits and runs once the budget frees; with reject it fails at once."""

import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker" / "ticketing"))

from ticketing.threadpool import ElasticThreadPool, ThreadStartError
from ticketing.throttle import Throttle

_real_start = threading.Thread.start


class Budget:
    """threading.Thread.start refused for request threads while `spent` (a pids limit reached)."""

    def __init__(self) -> None:
        self.spent = True

    def start(self, thread: threading.Thread) -> None:
        if self.spent and thread.name.startswith("request"):
            raise RuntimeError("can't start new thread")
        _real_start(thread)


def test_wait_mode_parks_the_request_until_a_thread_can_start():
    budget = Budget()
    throttle = Throttle(ElasticThreadPool(max_workers=4), "wait", retry_s=0.01)
    with mock.patch.object(threading.Thread, "start", autospec=True, side_effect=budget.start):
        future = throttle.submit(lambda: "served")
        time.sleep(0.1)
        assert not future.done() and throttle.waiting == 1  # waiting, not failed
        budget.spent = False
        assert future.result(timeout=2) == "served"
    assert throttle.waiting == 0
    throttle.shutdown()


def test_wait_mode_hands_the_request_to_a_live_thread_when_none_can_start():
    release = threading.Event()
    throttle = Throttle(ElasticThreadPool(max_workers=4), "wait", retry_s=10)  # no retry: a live thread takes it
    first = throttle.submit(release.wait, 5)
    budget = Budget()
    with mock.patch.object(threading.Thread, "start", autospec=True, side_effect=budget.start):
        second = throttle.submit(lambda: "after the first")
        assert throttle.busy == 1 and throttle.waiting == 1
        release.set()
        assert second.result(timeout=2) == "after the first"
    assert first.result(timeout=1) is True
    throttle.shutdown()


def test_reject_mode_fails_at_once():
    throttle = Throttle(ElasticThreadPool(max_workers=4), "reject")
    with (mock.patch.object(threading.Thread, "start", autospec=True, side_effect=Budget().start),
          pytest.raises(ThreadStartError)):
        throttle.submit(lambda: None)
    assert throttle.waiting == 0 and throttle.limit == 4
    throttle.shutdown()


def test_requests_beyond_the_bound_wait_in_order_and_the_gauges_say_so():
    release = threading.Event()
    throttle = Throttle(ElasticThreadPool(max_workers=2), "wait")
    order: list[int] = []
    futures = [throttle.submit(lambda i=i: (order.append(i), release.wait(5))) for i in range(5)]
    deadline = time.monotonic() + 2
    while throttle.busy < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert (throttle.busy, throttle.waiting, throttle.limit) == (2, 3, 2)
    release.set()
    for f in futures:
        f.result(timeout=2)
    assert sorted(order[:2]) == [0, 1] and sorted(order[2:]) == [2, 3, 4]  # the first two ran first
    throttle.shutdown()


def test_unknown_overflow_mode_is_refused():
    with pytest.raises(ValueError, match="overflow"):
        Throttle(ElasticThreadPool(max_workers=1), "drop")
