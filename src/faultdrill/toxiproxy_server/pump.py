"""The native pump, one per event loop: links with no toxic hand it their bytes.

A link with no toxic in its direction only copies bytes from one socket to the other, and under a
thousand connections the Python call per chunk is most of the server's work. ``_pump`` (C, built at
install when a compiler is there) does that copy on a thread of its own, without the GIL. The link
keeps every decision: the pump hands a direction back, unread, on anything but plain data (the peer's
FIN, a reset, a write the peer could not take whole), and a link takes its direction back before a
toxic starts on it or before either socket closes (``link.py``). So a connection behaves the same
with or without the pump; only the cost per chunk differs.

``FAULTDRILL_TOXIPROXY_PUMP`` chooses: ``auto`` (the default: native when built), ``native`` (fail
at start-up when it is not built) or ``python`` (never). The choice is logged at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["ENV", "PumpFeed", "SocketDup", "close_feed", "feed_for", "mode", "open_feed"]

log = logging.getLogger(__name__)
ENV = "FAULTDRILL_TOXIPROXY_PUMP"

try:
    from . import _pump  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the Python path does it all
    _pump = None

ENDED_BACKLOG: int = getattr(_pump, "ENDED_BACKLOG", 2)
ENDED_ERROR: int = getattr(_pump, "ENDED_ERROR", 3)


class Owner(Protocol):
    def pump_ended(self, handle: int) -> None: ...


def mode() -> str:
    """``native`` or ``python``: what this process will use (raises SystemExit on a bad setting)."""
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "native", "python"):
        raise SystemExit(f"{ENV}={wanted!r}: expected auto, native or python")
    if wanted == "python":
        return "python"
    if _pump is None:
        if wanted == "native":
            raise SystemExit(f"{ENV}=native but faultdrill was installed without its native pump "
                             "(install a C compiler and Python's headers, then reinstall faultdrill)")
        return "python"
    return "native"


class PumpFeed:
    """A pump and the links whose directions it holds, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_failure: Callable[[str], None]) -> None:
        assert _pump is not None
        self._loop = loop
        self._on_failure = on_failure
        self.pump: Any = _pump.Pump()
        self.owners: dict[int, Owner] = {}
        self._fd = self.pump.fileno()
        loop.add_reader(self._fd, self._ended)

    def add(self, src_fd: int, dst_fd: int, owner: Owner) -> int:
        handle: int = self.pump.add(src_fd, dst_fd)
        self.owners[handle] = owner
        return handle

    def remove(self, handle: int) -> tuple[bytes, int, int, int]:
        """Take a direction back: (bytes read but not written, received, sent, how it stopped)."""
        self.owners.pop(handle, None)
        left, received, sent, state = self.pump.remove(handle)
        return left, received, sent, state

    def counts(self, handle: int) -> tuple[int, int]:
        received, sent = self.pump.counts(handle)
        return received, sent

    def _ended(self) -> None:
        try:
            ended = self.pump.ended()
        except OSError as exc:  # the pump's thread stopped: its directions no longer move
            self._loop.remove_reader(self._fd)
            self._on_failure(f"the native pump stopped: {exc}")
            return
        for handle, _state in ended:
            owner = self.owners.get(handle)
            if owner is not None:
                owner.pump_ended(handle)

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        self.pump.close()
        self.owners.clear()


class SocketDup:
    """The pump's own descriptor for one socket of a connection: a duplicate, made when the first
    direction using the socket is pumped and closed once neither is (one direction reads it, the
    other writes it). The event loop may close its descriptor meanwhile: the number the pump uses
    stays this one's until the pump has let go, so it is never reused under it."""

    __slots__ = ("fd", "transport", "users")

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.fd = -1
        self.users = 0

    def acquire(self) -> int:
        """The duplicate's number (raises OSError when the socket is gone or no descriptor is left)."""
        if self.users == 0:
            sock = self.transport.get_extra_info("socket")
            if sock is None:
                raise OSError("the socket is gone")
            self.fd = os.dup(sock.fileno())
        self.users += 1
        return self.fd

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            os.close(self.fd)
            self.fd = -1


_FEEDS: dict[asyncio.AbstractEventLoop, PumpFeed] = {}


def open_feed(loop: asyncio.AbstractEventLoop, on_failure: Callable[[str], None]) -> str:
    """Give ``loop``'s links a pump when this process uses one; returns the mode, for the log.
    ``on_failure`` is told (with the reason) if the pump's thread stops on an error: the caller must
    stop serving, since the connections it held no longer move."""
    chosen = mode()
    if chosen == "native" and loop not in _FEEDS:
        _FEEDS[loop] = PumpFeed(loop, on_failure)
    return chosen


def feed_for(loop: asyncio.AbstractEventLoop) -> PumpFeed | None:
    return _FEEDS.get(loop)


def close_feed(loop: asyncio.AbstractEventLoop) -> None:
    feed = _FEEDS.pop(loop, None)
    if feed is not None:
        feed.close()
