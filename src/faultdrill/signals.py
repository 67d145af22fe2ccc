"""Turning SIGTERM into the same orderly stop as Ctrl-C, and shielding teardown from a second one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def interrupts_as_keyboard_interrupt(on_repeat: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Inside: SIGINT and SIGTERM raise KeyboardInterrupt once; later ones only call ``on_repeat``
    so that teardown is not cut short. Handlers are restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            on_repeat()
            return
        fired = True
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
