"""asyncio streams whose bytes can skip the stream: the data path's no-toxic fast path.

A link with no toxic only moves bytes from one socket to the other. Doing that through
``StreamReader.read`` costs a task wake-up per chunk. Instead the source's transport is given a
``ForwardingProtocol`` whose ``data_received`` is the forwarder's own ``data``, so the event loop
hands each chunk straight to it: one Python call per chunk. Flow control pauses the source's reads
while the destination's buffer drains. Until a forwarder is set, and after it is cleared (the first
toxic arrives), the transport's protocol is the connection's ``LinkProtocol``, a plain
``StreamReaderProtocol`` feeding its ``LinkReader``, so the toxic pipeline reads exactly as before.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

__all__ = ["Forwarder", "ForwardingProtocol", "LinkProtocol", "LinkReader", "open_connection", "start_server"]


class Forwarder:
    """Where a fast-path protocol sends what it would otherwise feed its reader."""

    def data(self, data: bytes) -> None:
        raise NotImplementedError

    def eof(self) -> None:
        raise NotImplementedError

    def lost(self) -> None:
        raise NotImplementedError


class LinkReader(asyncio.StreamReader):
    protocol: LinkProtocol | None = None

    def take_buffered(self) -> bytes:
        """What arrived before the fast path took over (read without waiting)."""
        # StreamReader keeps unread bytes in ``_buffer`` (stdlib and uvloop alike: uvloop reuses
        # asyncio's streams). Reading it here is the only way to hand over without a wake-up.
        data = bytes(self._buffer)  # type: ignore[attr-defined]
        self._buffer.clear()  # type: ignore[attr-defined]
        self._maybe_resume_transport()  # type: ignore[attr-defined]
        return data

    @property
    def finished(self) -> bool:
        """EOF seen or the connection failed (nothing more will arrive)."""
        return bool(self._eof) or self.exception() is not None  # type: ignore[attr-defined]


class ForwardingProtocol(asyncio.Protocol):
    """A connection's protocol while its bytes skip the reader.

    ``data_received`` is the forwarder's ``data`` (an instance attribute: the event loop looks it
    up once and calls it per chunk). Everything else goes to the ``LinkProtocol`` it stands in
    for: its reader still sees EOF and loss, and its writer still pauses when the peer is slow.
    """

    def __init__(self, inner: LinkProtocol, forwarder: Forwarder) -> None:
        self.inner = inner
        self.data_received = forwarder.data  # type: ignore[method-assign]

    def eof_received(self) -> bool:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class LinkProtocol(asyncio.StreamReaderProtocol):
    def __init__(self, reader: LinkReader, connected: Callable[..., Awaitable[None] | None] | None = None) -> None:
        super().__init__(reader, connected)
        reader.protocol = self
        self.forwarder: Forwarder | None = None

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport  # type: ignore[attr-defined,no-any-return]

    def data_received(self, data: bytes) -> None:
        forwarder = self.forwarder
        if forwarder is not None:
            forwarder.data(data)
        else:
            super().data_received(data)

    def eof_received(self) -> bool:
        forwarder = self.forwarder
        if forwarder is not None:
            super().eof_received()  # the reader sees EOF too (nothing is read from it any more)
            forwarder.eof()
            return True
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        forwarder = self.forwarder
        if forwarder is not None:
            forwarder.lost()


async def start_server(
    connected: Callable[[LinkReader, asyncio.StreamWriter], Awaitable[None]],
    *, sock: socket.socket, backlog: int, limit: int,
) -> asyncio.Server:
    """``asyncio.start_server`` with ``LinkProtocol`` connections."""
    loop = asyncio.get_running_loop()

    def factory() -> LinkProtocol:
        return LinkProtocol(LinkReader(limit=limit), connected)

    return await loop.create_server(factory, sock=sock, backlog=backlog)


async def open_connection(host: str | None, port: int, *, limit: int) -> tuple[LinkReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` with a ``LinkProtocol``."""
    loop = asyncio.get_running_loop()
    reader = LinkReader(limit=limit)
    protocol = LinkProtocol(reader)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)  # type: ignore[arg-type]  # None: every local interface (asyncio allows it; typeshed says str)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
