"""The data path's building blocks: chunks, channels and toxic stubs.

This mirrors Toxiproxy's ``stream`` package and ``ToxicStub``: every link (one
direction of one connection) is a chain of stubs joined by bounded, closable
channels.  A stub runs one toxic at a time and can be *interrupted* so that the
chain can be rewired while data is flowing (toxic added, updated or removed).

Interruption follows Go's semantics: a toxic only notices an interrupt at its
interruptible waits (``Stub.recv`` and ``Stub.sleep``); sends are never
interrupted.  ``Stub.interrupt`` returns False when the stub closed instead of
acknowledging, exactly like ``ToxicStub.InterruptToxic``.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from .toxics import ToxicWrapper

__all__ = ["INTERRUPTED", "TIMED_OUT", "Channel", "Chunk", "Pipe", "Stub"]


class _Signal:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


INTERRUPTED: Final = _Signal("INTERRUPTED")
TIMED_OUT: Final = _Signal("TIMED_OUT")


@dataclass
class Chunk:
    """One ``read()`` worth of bytes, stamped with the loop time it arrived."""

    data: bytes
    timestamp: float


class Channel:
    """A bounded FIFO between two pipeline stages, closable like a Go channel.

    ``get`` returns ``None`` once the channel is closed and drained (and keeps
    returning ``None``, like receiving from a closed Go channel).  Items put
    after close are dropped.
    """

    __slots__ = ("_capacity", "_closed", "_getters", "_items", "_putters")

    def __init__(self, capacity: int = 1) -> None:
        self._items: deque[Chunk] = deque()
        self._capacity = max(1, capacity)
        self._closed = False
        self._getters: deque[asyncio.Future[Any]] = deque()
        self._putters: deque[asyncio.Future[Any]] = deque()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def _wake(waiters: deque[asyncio.Future[Any]]) -> None:
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def put(self, item: Chunk) -> None:
        while len(self._items) >= self._capacity and not self._closed:
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._discard(self._putters, waiter)
                if waiter.done() and not waiter.cancelled():
                    self._wake(self._putters)
                raise
        if self._closed:
            return
        self._items.append(item)
        self._wake(self._getters)

    def try_get(self) -> tuple[bool, Chunk | None]:
        """(True, item) when an item is buffered, (True, None) when closed and
        empty, (False, None) when a receive would block."""
        if self._items:
            item = self._items.popleft()
            self._wake(self._putters)
            return True, item
        if self._closed:
            return True, None
        return False, None

    def try_get_buffered(self) -> tuple[bool, Chunk | None]:
        """Like Go's ``len(ch) > 0`` then receive: buffered items only."""
        if self._items:
            item = self._items.popleft()
            self._wake(self._putters)
            return True, item
        return False, None

    def add_getter(self, waiter: asyncio.Future[Any]) -> None:
        self._getters.append(waiter)

    def remove_getter(self, waiter: asyncio.Future[Any]) -> None:
        self._discard(self._getters, waiter)

    @staticmethod
    def _discard(waiters: deque[asyncio.Future[Any]], waiter: asyncio.Future[Any]) -> None:
        try:
            waiters.remove(waiter)
        except ValueError:
            pass

    async def get(self) -> Chunk | None:
        while True:
            ready, item = self.try_get()
            if ready:
                return item
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            finally:
                self._discard(self._getters, waiter)

    async def get_unless(self, other: asyncio.Future[Any]) -> tuple[bool, Chunk | None]:
        """Receive, unless ``other`` completes first: then (False, None)."""
        while True:
            ready, item = self.try_get()
            if ready:
                return True, item
            if other.done():
                return False, None
            waiter = asyncio.get_running_loop().create_future()

            def _release(_: object, waiter: asyncio.Future[Any] = waiter) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            self._getters.append(waiter)
            other.add_done_callback(_release)
            try:
                await waiter
            finally:
                other.remove_done_callback(_release)
                self._discard(self._getters, waiter)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for waiters in (self._getters, self._putters):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)


class Pipe(Protocol):
    """What a toxic implements: move chunks from ``stub.input`` to ``stub.output``."""

    async def pipe(self, stub: Stub) -> None: ...


class Stub:
    """Runs one toxic between an input and an output channel (Go's ToxicStub)."""

    __slots__ = (
        "_acknowledged",
        "_interrupt_pending",
        "_task",
        "_waiter",
        "closed",
        "input",
        "output",
        "state",
    )

    def __init__(self, input: Channel, output: Channel) -> None:
        self.input = input
        self.output = output
        self.closed = False
        self.state: Any = None
        self._task: asyncio.Task[None] | None = None
        self._interrupt_pending = False
        self._acknowledged = False
        self._waiter: asyncio.Future[Any] | None = None

    # -- lifecycle, used by links -------------------------------------------------

    def run(self, wrapper: ToxicWrapper, noop: Pipe) -> None:
        """Start running ``wrapper``'s toxic, or ``noop`` when toxicity says no."""
        toxic: Pipe = wrapper.toxic if random.random() < wrapper.toxicity else noop
        self._task = asyncio.get_running_loop().create_task(self._run(toxic))

    async def _run(self, toxic: Pipe) -> None:
        try:
            await toxic.pipe(self)
        except (ConnectionError, OSError):
            self.close()

    async def interrupt(self) -> bool:
        """Stop the running toxic at its next interruptible wait.

        Returns False if the stub closed (before or instead of acknowledging).
        """
        if self.closed:
            return False
        task = self._task
        if task is None or task.done():
            return not self.closed
        self._acknowledged = False
        self._interrupt_pending = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        await asyncio.wait({task})
        self._interrupt_pending = False
        return self._acknowledged

    def cancel(self) -> None:
        """Tear down (connection gone): stop the task without any flushing."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def close(self) -> None:
        """Close the output (the next stage sees EOF).  Idempotent."""
        if not self.closed:
            self.closed = True
            self.output.close()

    # -- API for toxics ------------------------------------------------------------

    def _ack(self) -> bool:
        if self._interrupt_pending:
            self._acknowledged = True
            return True
        return False

    async def recv(self, timeout: float | None = None) -> Any:
        """Next chunk; ``None`` at EOF; ``INTERRUPTED``; or ``TIMED_OUT``."""
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        timed_out = False
        try:
            while True:
                if self._ack():
                    return INTERRUPTED
                ready, item = self.input.try_get()
                if ready:
                    return item
                if timed_out:
                    return TIMED_OUT
                waiter = loop.create_future()
                if timeout is not None and timer is None:
                    timer = loop.call_later(max(timeout, 0.0), _resolve, waiter, TIMED_OUT)
                self._waiter = waiter
                self.input.add_getter(waiter)
                try:
                    result = await waiter
                finally:
                    self._waiter = None
                    self.input.remove_getter(waiter)
                if result is TIMED_OUT or (timer is not None and timer.when() <= loop.time()):
                    timed_out = True
        finally:
            if timer is not None:
                timer.cancel()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; False if interrupted (the caller must then flush and return)."""
        if self._ack():
            return False
        if seconds <= 0:
            return True
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(seconds, _resolve, waiter, TIMED_OUT)
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None
            timer.cancel()
        return not self._ack()

    async def send(self, chunk: Chunk) -> None:
        """Forward a chunk downstream (never interrupted, like a Go send)."""
        await self.output.put(chunk)


def _resolve(waiter: asyncio.Future[Any], value: Any) -> None:
    if not waiter.done():
        waiter.set_result(value)
