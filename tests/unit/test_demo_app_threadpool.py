"""The demo ticketing app's elastic request-thread pool (docker/ticketing/ticketing/threadpool.py)."""

import random
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker" / "ticketing"))

from ticketing.threadpool import ElasticThreadPool, ThreadStartError


def wait_until(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_threads_retire_when_idle_and_come_back_on_demand():
    pool = ElasticThreadPool(max_workers=4, idle_timeout_s=0.0)
    assert pool.submit(lambda: 41 + 1).result(timeout=1) == 42
    wait_until(lambda: pool.live == 0)
    assert pool.submit(lambda: "again").result(timeout=1) == "again"


def test_never_more_threads_than_the_bound_and_overflow_waits_for_a_free_thread():
    pool = ElasticThreadPool(max_workers=3, idle_timeout_s=0.0)
    gate = threading.Event()
    started = []
    peak = []

    def task(i):
        started.append(i)
        peak.append(pool.live)
        gate.wait(2)
        return i

    futures = [pool.submit(task, i) for i in range(10)]
    wait_until(lambda: pool.busy == 3)
    assert pool.live == 3 and pool.queued == 7
    gate.set()
    assert [f.result(timeout=2) for f in futures] == list(range(10))
    assert max(peak) <= 3
    assert set(started[:3]) == {0, 1, 2}  # the overflow waited; it did not get extra threads
    wait_until(lambda: pool.live == 0)


def test_no_work_is_stranded_under_churn():
    # The bug this guards against: a retiring thread that leaves submitted work
    # with no thread to run it (the server then hangs forever on that request).
    pool = ElasticThreadPool(max_workers=8, idle_timeout_s=0.0)
    rng = random.Random(7)
    for _ in range(300):
        burst = [pool.submit(time.sleep, rng.random() / 5000) for _ in range(rng.randint(1, 20))]
        for future in burst:
            future.result(timeout=2)
    wait_until(lambda: pool.live == 0 and pool.busy == 0)


def test_idle_timeout_keeps_threads_for_reuse():
    pool = ElasticThreadPool(max_workers=4, idle_timeout_s=5.0)
    names = {pool.submit(lambda: threading.current_thread().name).result(timeout=1) for _ in range(20)}
    assert len(names) == 1 and pool.live == 1
    pool.shutdown()
    wait_until(lambda: pool.live == 0)


def test_a_refused_thread_start_raises_and_leaves_the_pool_usable():
    pool = ElasticThreadPool(max_workers=4, idle_timeout_s=0.0)
    with (mock.patch.object(threading.Thread, "start", side_effect=RuntimeError("can't start new thread")),
          pytest.raises(ThreadStartError, match="can't start new thread")):
        pool.submit(lambda: None)
    assert pool.live == 0 and pool.start_failures == 1
    assert pool.submit(lambda: "ok").result(timeout=1) == "ok"


def test_task_exceptions_reach_the_future_and_the_thread_survives():
    pool = ElasticThreadPool(max_workers=1, idle_timeout_s=1.0)

    def boom():
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        pool.submit(boom).result(timeout=1)
    assert pool.submit(lambda: 1).result(timeout=1) == 1
    pool.shutdown()
