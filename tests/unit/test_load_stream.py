"""The parent's side of the load stream fails closed (issue 12): a callback that raises, a line that
cannot be read, a stream that ends without its end marker — each is kept in ``error`` and turns
``alive`` False, so the drill fails instead of ending "completed" with its load data cut off.

The child is faked (its stdout as a list of lines); the real child is in tests/integration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faultdrill.histograms import LoadSecond, RequestStats, record_ms
from faultdrill.load.config import ChildConfig
from faultdrill.load.process import LoadProcess
from faultdrill.load.shape import Segment


class FakeChild:
    """What ``LoadProcess`` reads from and asks of a child process."""

    def __init__(self, lines: list[str], returncode: int | None = 0) -> None:
        self.stdout = iter(lines)
        self.stdin = None
        self.returncode = returncode

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode


def second_line(t: int) -> str:
    stats = RequestStats(count=1)
    record_ms(stats.hist, 5.0)
    return json.dumps(LoadSecond(t, 3, {"GET /": stats}).to_wire()) + "\n"


PREPARED = json.dumps({"type": "prepared"}) + "\n"
DONE = json.dumps({"type": "done"}) + "\n"


def stream(tmp_path: Path, lines: list[str], on_second, returncode: int | None = 0) -> LoadProcess:  # type: ignore[no-untyped-def]
    config = ChildConfig(t0=0.0, duration=10, host="http://127.0.0.1:1", journeys="builtin:smoke",
                         segments=[Segment(10, 1)], request_timeout=1)
    load = LoadProcess(duration=10, host=config.host, journeys=config.journeys, log_path=tmp_path / "l.log",
                       config=config)
    load.proc = FakeChild(lines, returncode)  # type: ignore[assignment]
    load._on_second = on_second
    load._read()  # the reader thread's body, on this thread
    return load


def test_a_complete_stream_is_healthy(tmp_path: Path) -> None:
    got: list[int] = []
    load = stream(tmp_path, [PREPARED, *map(second_line, range(3)), DONE], lambda s: got.append(s.t))
    assert got == [0, 1, 2] and load.error is None and load.finished.is_set()


def test_a_callback_that_raises_at_second_n_fails_the_stream_and_names_it(tmp_path: Path) -> None:
    got: list[int] = []

    def on_second(second: LoadSecond) -> None:
        if second.t == 3:
            raise ValueError("bad row")
        got.append(second.t)

    load = stream(tmp_path, [PREPARED, *map(second_line, range(6)), DONE], on_second, returncode=None)
    assert got == [0, 1, 2]  # nothing after the gap is passed on as if the data were whole
    assert load.error == "the load data of second 3 could not be recorded: ValueError: bad row"
    assert not load.alive  # the child still runs, but the drill must stop
    assert load.finished.is_set()  # the stream was drained to its end: the child never blocks on a full pipe


@pytest.mark.parametrize("bad", ["Traceback (most recent call last):\n", "[1, 2]\n",
                                 '{"type": "second", "t": 2}\n', '{"type": "surprise"}\n'])
def test_a_line_that_cannot_be_read_fails_the_stream(tmp_path: Path, bad: str) -> None:
    got: list[int] = []
    load = stream(tmp_path, [PREPARED, second_line(0), second_line(1), bad, second_line(2), DONE],
                  lambda s: got.append(s.t))
    assert load.error is not None and "after second 1" in load.error, load.error
    assert got == [0, 1]


def test_a_stream_that_ends_without_its_end_marker_is_never_a_silent_gap(tmp_path: Path) -> None:
    load = stream(tmp_path, [PREPARED, second_line(0), second_line(1)], lambda s: None, returncode=-9)
    assert load.error is not None
    assert "ended after second 1 without its end marker (exit code -9)" in load.error
    assert not load.alive
