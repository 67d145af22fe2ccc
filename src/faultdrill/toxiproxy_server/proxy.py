"""Proxies: listener, upstream dial, connection lifecycle (spec §2, §5.1, §6).

All of it runs on the server's single asyncio loop.  Differences from Go that
clients can only notice as "better": the upstream is dialled per connection
concurrently (Go dials synchronously inside its accept loop).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable

from . import gojson
from .addresses import AddressError, bind_listener, format_sockname, resolve, shared_copy, split_host_port
from .errors import ApiError
from .link import Link, LinkCounters
from .metrics import LinkLabels, Metrics, ProxyGauge
from .pump import SocketDup
from .streams import open_connection, start_server
from .toxic_collection import ToxicCollection
from .toxics import DOWNSTREAM, UPSTREAM

__all__ = ["Connection", "Proxy", "ProxyAlreadyStarted", "ProxyCollection"]

log = logging.getLogger(__name__)

STREAM_LIMIT = 64 * 1024
LISTEN_BACKLOG = 4096
#: Listener generations, unique in the process: a proxy deleted and made again under the same
#: name never repeats one (data-plane processes compare them to know a listener is new).
_GENERATIONS = itertools.count(1)


class ProxyAlreadyStarted(Exception):
    pass


class Connection:
    """One client connection and its upstream connection, with two links."""

    def __init__(
        self,
        proxy: Proxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.upstream_reader, self.upstream_writer = upstream
        self.links: list[Link] = []
        self._aborted = False

    def abort(self) -> None:
        """Close both sockets now (FIN, or RST when SO_LINGER=0 was set)."""
        if self._aborted:
            return
        self._aborted = True
        for link in self.links:
            link.cancel()
        for writer in (self.client_writer, self.upstream_writer):
            writer.transport.abort()

    async def run(self) -> None:
        proxy = self.proxy
        toxics = proxy.toxics
        if toxics.has_type("reset_peer"):
            for writer in (self.client_writer, self.upstream_writer):
                _set_linger_zero(writer)
        counters: list[tuple[LinkLabels, LinkCounters]] = []
        for direction, source, dest in (
            (UPSTREAM, self.client_reader, self.upstream_writer),
            (DOWNSTREAM, self.upstream_reader, self.client_writer),
        ):
            labels = LinkLabels(direction, proxy.listen, proxy.name, proxy.upstream)
            link_counters = LinkCounters()
            proxy.metrics.link_started(labels, link_counters)
            link = Link(direction, toxics.chain[direction], source, dest, link_counters)
            self.links.append(link)
            counters.append((labels, link_counters))
            toxics.register_link(link, self)
        upstream, downstream = self.links
        upstream.partner, downstream.partner = downstream, upstream
        client_socket = SocketDup(self.client_writer.transport)
        upstream_socket = SocketDup(self.upstream_writer.transport)
        upstream.source_dup, upstream.dest_dup = client_socket, upstream_socket
        downstream.source_dup, downstream.dest_dup = upstream_socket, client_socket
        for link in self.links:
            link.start()
        try:
            await asyncio.wait([link.done for link in self.links])
        finally:
            for link in self.links:
                toxics.unregister_link(link)
                link.cancel()
            for writer in (self.client_writer, self.upstream_writer):
                writer.close()
            for labels, link_counters in counters:
                proxy.metrics.link_ended(labels, link_counters)


async def _nothing() -> None:
    return None


def _set_linger_zero(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError as exc:
            log.warning("could not set SO_LINGER=0: %s", exc)


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str, metrics: Metrics) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.metrics = metrics
        self.toxics = ToxicCollection()
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._generation = 0
        #: In a data-plane process: the API process's listener generation this proxy serves.
        self.mirrored: int | None = None
        #: Listeners are ``SO_REUSEPORT`` groups that other data-plane processes join.
        self.shared = False
        self._sock: socket.socket | None = None
        #: Its collection's ``released`` (a proxy made on its own has no other processes to wait for).
        self.collection_released: Callable[[], Awaitable[None]] = _nothing
        self._pending: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- JSON ------------------------------------------------------------------------

    def to_json(self) -> str:
        """Key order of Toxiproxy, including its ``"Logger":{}`` artefact."""
        return (
            '{"name":' + gojson.dumps(self.name)
            + ',"listen":' + gojson.dumps(self.listen)
            + ',"upstream":' + gojson.dumps(self.upstream)
            + ',"enabled":' + ("true" if self.enabled else "false")
            + ',"Logger":{}'
            + ',"toxics":[' + ",".join(t.to_json() for t in self.toxics.list()) + "]}"
        )

    def gauge(self) -> ProxyGauge:
        return ProxyGauge(self.name, len(self.connections), self.enabled)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Changes whenever the listener starts or stops."""
        return self._generation

    def shared_listener(self) -> socket.socket | None:
        """While enabled and ``shared``: a new socket in the listener's ``SO_REUSEPORT`` group,
        for another data-plane process."""
        if not self.enabled or self._sock is None:
            return None
        return shared_copy(self._sock)

    async def start(self, sock: socket.socket | None = None) -> None:
        """Bind (or serve ``sock``, a listener bound elsewhere) and serve.

        Raises ProxyAlreadyStarted or ApiError (500, Go's text).
        """
        if self.enabled:
            raise ProxyAlreadyStarted()
        if sock is None:
            try:
                sock = await bind_listener(self.listen, shared=self.shared)
            except AddressError as exc:
                raise ApiError.internal(str(exc)) from None
        try:
            self._generation = next(_GENERATIONS)
            generation = self._generation
            self._server = await start_server(
                lambda r, w: self._accept(r, w, generation),
                sock=sock,
                backlog=LISTEN_BACKLOG,
                limit=STREAM_LIMIT,
            )
        except OSError as exc:
            sock.close()
            raise ApiError.internal(f"listen tcp {self.listen}: {exc}") from None
        self.listen = format_sockname(sock)
        self._sock = sock if self.shared else None
        self.enabled = True

    def stop(self) -> None:
        """Close the listener and every open connection (FIN). Toxics are kept."""
        if not self.enabled:
            return
        self.enabled = False
        self._sock = None
        self._generation = next(_GENERATIONS)
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._pending):
            writer.transport.abort()
        self._pending.clear()
        for connection in list(self.connections):
            connection.abort()

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait for the connection tasks of a stopped proxy to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        try:
            resolved = str(await resolve(listen))
        except AddressError as exc:
            raise ApiError.internal(str(exc)) from None
        if not (self.listen == resolved and self.upstream == upstream):
            self.stop()
            await self.collection_released()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, generation: int
    ) -> None:
        if generation != self._generation:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._pending.add(writer)
        try:
            upstream = await self._dial()
        finally:
            self._pending.discard(writer)
        if upstream is None or generation != self._generation:
            if upstream is not None:
                upstream[1].transport.abort()
            writer.close()  # connect OK, then EOF
            return
        connection = Connection(self, (reader, writer), upstream)
        self.connections.add(connection)
        self.metrics.connections_total[self.name] += 1
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            host, port = split_host_port(self.upstream)
            return await open_connection(host or None, int(port or 0), limit=STREAM_LIMIT)
        except (AddressError, OSError, ValueError) as exc:
            log.info("unable to open connection to upstream %s: %s", self.upstream, exc)
            return None


class ProxyCollection:
    """All proxies by name (Go's ProxyCollection)."""

    def __init__(self, metrics: Metrics, *, shared: bool = False) -> None:
        self.metrics = metrics
        self.shared = shared
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()
        #: Awaited after a proxy stops, before it may bind again within the same API call: the
        #: other data-plane processes close their copies of its listener (``dataplane.py``).
        self.on_stopped: Callable[[], Awaitable[None]] | None = None

    def _new(self, name: str, listen: str, upstream: str) -> Proxy:
        proxy = Proxy(name, listen, upstream, self.metrics)
        proxy.collection_released = self.released
        proxy.shared = self.shared
        return proxy

    async def released(self) -> None:
        if self.on_stopped is not None:
            await self.on_stopped()

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError.proxy_not_found()
        return proxy

    def sorted(self) -> list[Proxy]:
        return [self.proxies[name] for name in sorted(self.proxies)]

    def gauges(self) -> Iterable[ProxyGauge]:
        return [proxy.gauge() for proxy in self.proxies.values()]

    async def add(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        async with self.lock:
            if name in self.proxies:
                raise ApiError.proxy_already_exists()
            proxy = self._new(name, listen, upstream)
            if enabled:
                await proxy.start()
            self.proxies[name] = proxy
            return proxy

    async def add_or_replace(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        """Populate semantics: keep an identical proxy, replace a different one."""
        async with self.lock:
            existing = self.proxies.get(name)
            if existing is not None:
                try:
                    resolved = str(await resolve(listen))
                except AddressError:
                    resolved = listen
                if existing.upstream == upstream and existing.listen in (listen, resolved):
                    return existing
                existing.stop()  # a failed start below leaves it stopped, as in Go
                await self.released()
            proxy = self._new(name, listen, upstream)
            if enabled:
                await proxy.start()
            self.proxies[name] = proxy
            return proxy

    async def remove(self, name: str) -> None:
        async with self.lock:
            proxy = self.get(name)
            proxy.stop()
            del self.proxies[name]

    async def stop_all(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        for proxy in self.proxies.values():
            await proxy.wait_closed()
