"""One direction of one proxied connection: reader -> toxic stubs -> writer.

A port of Toxiproxy's ``link.go``.  The chain always starts with a hidden noop
stub, so adding, updating and removing toxics on a live link follows Go's
algorithm step by step (that is what makes flush-on-remove and toxicity
re-rolls behave the same).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from . import pump
from .pipeline import Channel, Chunk, Stub
from .streams import Forwarder, ForwardingProtocol, LinkReader
from .toxics import NOOP, Direction, ToxicWrapper

__all__ = ["Link", "LinkCounters"]

READ_SIZE = 32 * 1024
#: Fast path: stop reading the source while the destination holds more than this unsent.
FORWARD_HIGH_WATER = 64 * 1024


@dataclass(eq=False, slots=True)
class LinkCounters:
    """Bytes moved by one link, counted as they stream (``/metrics`` reads them live)."""

    received: int = 0
    sent: int = 0
    write_failed: bool = False
    #: While the native pump holds the direction, it counts; its figures join these when taken back.
    feed: pump.PumpFeed | None = None
    handle: int = 0

    def totals(self) -> tuple[int, int]:
        """(received, sent) so far, the pump's share included."""
        if self.feed is None:
            return self.received, self.sent
        received, sent = self.feed.counts(self.handle)
        return self.received + received, self.sent + sent


class Link(Forwarder):
    def __init__(
        self,
        direction: Direction,
        chain: list[ToxicWrapper],
        source: asyncio.StreamReader,
        dest: asyncio.StreamWriter,
        counters: LinkCounters,
    ) -> None:
        self.direction = direction
        self._source = source
        self._dest = dest
        self._dest_transport = dest.transport
        self.counters = counters
        self._chain = chain  # the collection's live list for this direction
        self.stubs: list[Stub] = []
        self._input = Channel(1)
        self._output = Channel(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._dead = False
        # Fast path: with no toxics in this direction the bytes go straight from the
        # source's transport to the destination's (behaviour identical to the hidden noop
        # stub): the source transport's ``data_received`` is this link's ``data``, with no
        # task or stream per chunk, when the source is a ``LinkReader``.  The first toxic
        # added switches the link to the stub pipeline for good.
        self._direct = len(chain) == 1
        self._forwarding = False
        self._source_paused = False
        #: The other direction of the same connection: its source is this link's destination.
        self.partner: Link | None = None
        #: The pump's descriptors for the source and destination sockets, shared with the partner
        #: (set by the connection; without them the link is never pumped).
        self.source_dup: pump.SocketDup | None = None
        self.dest_dup: pump.SocketDup | None = None
        self._feed: pump.PumpFeed | None = None
        self._handle: int | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._direct:
            self._build_stubs(len(chain))

    def _build_stubs(self, count: int) -> None:
        last = self._input
        for i in range(count):
            nxt = Channel(self._chain[i + 1].buffer_size) if i + 1 < count else self._output
            self.stubs.append(Stub(last, nxt))
            last = nxt

    def _start_pipeline(self) -> None:
        loop = asyncio.get_running_loop()
        for stub, wrapper in zip(self.stubs, self._chain):
            stub.state = wrapper.toxic.new_state()
            stub.run(wrapper, NOOP)
        self._tasks.append(loop.create_task(self._write()))

    def start(self) -> None:
        source = self._source
        if self._direct and isinstance(source, LinkReader) and source.protocol is not None:
            self._start_forwarding(source)
            return
        self._tasks.append(asyncio.get_running_loop().create_task(self._read()))
        if not self._direct:
            self._start_pipeline()

    # -- fast path: the source's protocol calls these (Forwarder) --------------------

    def _start_forwarding(self, source: LinkReader) -> None:
        protocol = source.protocol
        assert protocol is not None
        self._forwarding = True
        protocol.forwarder = self
        early = source.take_buffered()
        if early:
            self.data(early)
        if source.finished:
            self._finish()
            return
        transport = protocol.transport
        if transport is not None and not transport.is_closing():
            transport.set_protocol(ForwardingProtocol(protocol, self))
            self._try_pump()

    # -- the native pump (pump.py): it copies the bytes, the link keeps every decision -----

    def _source_transport(self) -> asyncio.Transport | None:
        source = self._source
        if isinstance(source, LinkReader) and source.protocol is not None:
            return source.protocol.transport
        return None

    def _try_pump(self) -> None:
        """Hand the direction to the pump when nothing is in flight: the source's reads pause here
        and the pump reads it instead (writes go straight to the destination's socket, which is why
        its transport must hold nothing unsent)."""
        feed = pump.feed_for(asyncio.get_running_loop())
        source, dest = self._source_transport(), self._dest_transport
        source_dup, dest_dup = self.source_dup, self.dest_dup
        if (feed is None or source_dup is None or dest_dup is None or self._dead or self._source_paused
                or not self._forwarding or self._handle is not None or source is None or source.is_closing()
                or dest.is_closing() or dest.get_write_buffer_size()):
            return
        try:
            src_fd = source_dup.acquire()
        except OSError:
            return  # out of descriptors: Python forwards this one
        try:
            dst_fd = dest_dup.acquire()
        except OSError:
            source_dup.release()
            return
        source.pause_reading()
        try:
            handle = feed.add(src_fd, dst_fd, self)
        except (OSError, MemoryError):
            source_dup.release()
            dest_dup.release()
            source.resume_reading()
            return
        self._feed, self._handle = feed, handle
        self.counters.feed, self.counters.handle = feed, handle

    def _unpump(self, *, resume: bool) -> None:
        """Take the direction back from the pump: its unwritten bytes go out through the transport,
        and (``resume``) the source's reads come back to this process's loop."""
        feed, handle = self._feed, self._handle
        if feed is None or handle is None:
            return
        self._feed = self._handle = None
        left, received, sent, state = feed.remove(handle)
        if self.source_dup is not None and self.dest_dup is not None:
            self.source_dup.release()  # the pump has let go of both: they may close now
            self.dest_dup.release()
        counters = self.counters
        counters.feed = None
        counters.received += received
        counters.sent += sent
        if left:
            dest = self._dest_transport
            if dest.is_closing():
                counters.write_failed = True
            else:
                dest.write(left)
                counters.sent += len(left)
        if state == pump.ENDED_ERROR:
            counters.write_failed = True
        if not resume or self._dead:
            return
        source = self._source_transport()
        if source is None or source.is_closing():
            return
        if self._forwarding and self._dest_transport.get_write_buffer_size() > FORWARD_HIGH_WATER:
            self._source_paused = True  # still paused by the pump: resume once the peer drained
            self._tasks.append(asyncio.get_running_loop().create_task(self._resume_when_drained(source)))
        else:
            source.resume_reading()

    def pump_ended(self, handle: int) -> None:
        """The pump stopped on something other than plain data: this loop takes it from here."""
        if handle == self._handle:
            self._unpump(resume=True)

    def _stop_forwarding(self) -> None:
        self._unpump(resume=True)
        source = self._source
        if self._forwarding and isinstance(source, LinkReader) and source.protocol is not None:
            protocol = source.protocol
            protocol.forwarder = None
            transport = protocol.transport
            if transport is not None and isinstance(transport.get_protocol(), ForwardingProtocol):
                transport.set_protocol(protocol)
        self._forwarding = False

    def data(self, data: bytes) -> None:
        # Called once per chunk read from the source: keep it to counters and one write.
        if self._dead:
            return
        size = len(data)
        counters = self.counters
        counters.received += size
        transport = self._dest_transport
        if transport.is_closing():
            counters.write_failed = True
            self._stop_forwarding()
            self._finish()
            return
        transport.write(data)
        counters.sent += size
        if not self._source_paused and transport.get_write_buffer_size() > FORWARD_HIGH_WATER:
            self._pause_source()

    def eof(self) -> None:
        self._stop_forwarding()
        self._finish()

    def lost(self) -> None:
        self._stop_forwarding()
        self._finish()

    def _pause_source(self) -> None:
        source = self._source
        transport = source.protocol.transport if isinstance(source, LinkReader) and source.protocol else None
        if transport is None:
            return
        self._source_paused = True
        transport.pause_reading()
        self._tasks.append(asyncio.get_running_loop().create_task(self._resume_when_drained(transport)))

    async def _resume_when_drained(self, transport: asyncio.Transport) -> None:
        try:
            await self._dest.drain()
        except (ConnectionError, OSError):
            self.counters.write_failed = True
            self._stop_forwarding()
            self._finish()
            return
        self._source_paused = False
        if not self._dead and not transport.is_closing():
            transport.resume_reading()
            self._try_pump()

    def _finish(self) -> None:
        # The pump holds duplicates of the sockets: the destination only really closes (FIN or
        # RST reaching the peer) once neither direction is pumped.
        self._unpump(resume=False)
        if self.partner is not None:
            self.partner._unpump(resume=True)
        self._dest.close()
        if not self.done.done():
            self.done.set_result(None)

    def cancel(self) -> None:
        self._dead = True
        self._unpump(resume=False)
        self._stop_forwarding()
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for stub in self.stubs:
            stub.cancel()
        if not self.done.done():
            self.done.set_result(None)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        counters = self.counters
        dest = self._dest
        try:
            while True:
                data = await self._source.read(READ_SIZE)
                if not data:
                    break
                counters.received += len(data)
                if self._direct:
                    dest.write(data)
                    counters.sent += len(data)
                    try:
                        await dest.drain()
                    except (ConnectionError, OSError):
                        counters.write_failed = True
                        break
                else:
                    await self._input.put(Chunk(data, loop.time()))
        except (ConnectionError, OSError):
            pass
        finally:
            if self._direct:
                self._finish()
            else:
                self._input.close()

    async def _write(self) -> None:
        dest = self._dest
        counters = self.counters
        try:
            while True:
                chunk = await self._output.get()
                if chunk is None:
                    break
                if not chunk.data:
                    continue
                dest.write(chunk.data)
                counters.sent += len(chunk.data)
                await dest.drain()
        except (ConnectionError, OSError):
            counters.write_failed = True
        finally:
            self._finish()

    def _run(self, stub: Stub, wrapper: ToxicWrapper) -> None:
        if not self._dead:
            stub.run(wrapper, NOOP)

    # -- live chain changes (Go: ToxicLink.AddToxic / UpdateToxic / RemoveToxic) ------

    async def add_toxic(self, wrapper: ToxicWrapper) -> None:
        if self._direct:
            if self._dead or self.done.done():
                return
            self._direct = False
            if self._forwarding:
                # From now on the source's bytes go to its reader, read by the pipeline.
                self._stop_forwarding()
                self._tasks.append(asyncio.get_running_loop().create_task(self._read()))
            self._build_stubs(wrapper.index)
            self._start_pipeline()
        i = len(self.stubs)
        new_input = Channel(wrapper.buffer_size)
        new_stub = Stub(new_input, self.stubs[i - 1].output)
        self.stubs.append(new_stub)
        previous = self.stubs[i - 1]
        if await previous.interrupt():
            previous.output = new_input
            new_stub.state = wrapper.toxic.new_state()
            self._run(new_stub, wrapper)
            self._run(previous, self._chain[i - 1])
        else:
            # The link is already closing; keep the new stub's input consistent.
            previous.output = new_input
            new_input.close()

    async def update_toxic(self, wrapper: ToxicWrapper) -> None:
        i = wrapper.index
        if i >= len(self.stubs):
            return
        if await self.stubs[i].interrupt():
            self._run(self.stubs[i], wrapper)

    async def remove_toxic(self, wrapper: ToxicWrapper, index: int) -> None:
        i = index
        if i < 1 or i >= len(self.stubs):
            return
        stub = self.stubs[i]
        if not await stub.interrupt():
            return
        wrapper.toxic.cleanup(stub)
        if stub.closed:
            return
        previous = self.stubs[i - 1]
        stop = asyncio.get_running_loop().create_task(previous.interrupt())
        # Unblock the previous toxic if it is flushing into us, until it stops.
        while True:
            if stop.done():
                if stop.result():
                    break
                got, chunk = True, await stub.input.get()
            else:
                got, chunk = await stub.input.get_unless(stop)
            if not got:
                continue
            if chunk is None:
                stub.close()
                await stop
                return
            await stub.output.put(chunk)
        # Empty this stub's buffer.
        while True:
            got, chunk = stub.input.try_get_buffered()
            if not got:
                break
            await stub.output.put(chunk)  # type: ignore[arg-type]
        previous.output = stub.output
        del self.stubs[i]
        self._run(previous, self._chain[i - 1])

