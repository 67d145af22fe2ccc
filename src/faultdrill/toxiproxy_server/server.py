"""Running the server: in a background thread (``ToxiproxyServer``) or in the
foreground until SIGINT/SIGTERM (``serve``), in one process or, with
``processes`` > 1, with data-plane helper processes (``dataplane.py``)."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from . import eventloop, pump
from .api import Api
from .dataplane import DataPlane, DataPlaneError
from .errors import ApiError
from .httpd import HttpServer
from .metrics import Counts, Metrics
from .proxy import ProxyCollection

__all__ = ["VERSION", "ServerOptions", "ServerStartError", "ToxiproxyServer", "serve"]

log = logging.getLogger(__name__)

#: Reported by ``GET /version``.  Semver *build metadata* (``+...``) keeps the
#: precedence of 2.12.0 for version-gated clients while naming the implementation.
VERSION = "2.12.0+faultdrill"

T = TypeVar("T")


class ServerStartError(RuntimeError):
    """The API could not start (e.g. its port is taken)."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8474
    config: Path | None = None
    proxy_metrics: bool = False
    runtime_metrics: bool = False
    #: Processes that carry connections, this one included (``dataplane.py``).
    processes: int = 1


class _App:
    """Everything that lives on the event loop."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.metrics = Metrics(options.proxy_metrics, options.runtime_metrics, VERSION)
        self.collection = ProxyCollection(self.metrics, shared=options.processes > 1)
        self.api = Api(self.collection, self.metrics, VERSION)
        self.http = HttpServer(self.api.handle)
        self.address: tuple[str, int] = (options.host, options.port)
        self.dataplane = DataPlane(options.processes, proxy_metrics=options.proxy_metrics, on_lost=self._lost)
        #: Set, with the reason, when a data-plane process is lost: the server must stop (exit 1).
        self.fatal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pump_mode = "python"

    def _lost(self, reason: str) -> None:
        if not self.fatal.done():
            log.error("%s; stopping the server: its proxies would no longer all behave as asked", reason)
            self.fatal.set_result(reason)

    async def _sync(self) -> None:
        try:
            await self.dataplane.sync(self.collection)
        except DataPlaneError as exc:
            self._lost(str(exc))
            raise ApiError.internal(str(exc)) from None

    async def _other_counts(self) -> list[Counts]:
        try:
            return await self.dataplane.counts()
        except DataPlaneError as exc:
            self._lost(str(exc))
            raise ApiError.internal(str(exc)) from None

    async def start(self) -> None:
        self.pump_mode = pump.open_feed(asyncio.get_running_loop(), self._lost)
        if self.options.processes > 1:
            try:
                await self.dataplane.start()
            except DataPlaneError as exc:
                pump.close_feed(asyncio.get_running_loop())
                raise ServerStartError(str(exc)) from exc
            self.api.after_change = self._sync
            self.collection.on_stopped = self._sync
            self.api.other_counts = self._other_counts
        if self.options.config is not None:
            await self._load_config(self.options.config)
        try:
            await self._sync()
        except ApiError as exc:
            await self.stop()
            raise ServerStartError(exc.message) from None
        try:
            self.address = await self.http.start(self.options.host, self.options.port)
        except OSError as exc:
            await self.stop()
            raise ServerStartError(
                f"cannot listen on {self.options.host}:{self.options.port}: {exc}"
            ) from exc
        log.info("API HTTP server starting on %s:%s (version %s, %s event loop, %s, %d data-plane process%s)",
                 *self.address, VERSION, eventloop.loop_name(),
                 "native pump" if self.pump_mode == "native" else "no native pump", self.options.processes,
                 "" if self.options.processes == 1 else "es")

    async def _load_config(self, path: Path) -> None:
        """Populate semantics; errors are logged, never fatal (as in Toxiproxy)."""
        try:
            body = path.read_bytes()
        except OSError as exc:
            log.error("error reading config file %s: %s", path, exc)
            return
        from .api import _decode_populate  # same decoder as POST /populate

        try:
            for entry in _decode_populate(body):
                await self.collection.add_or_replace(*entry)
        except ApiError as exc:
            log.error("failed to populate proxies from %s: %s", path, exc.message)
        log.info("populated %d proxies from %s", len(self.collection.proxies), path)

    async def stop(self) -> None:
        await self.http.close()
        await self.collection.stop_all()
        await self.dataplane.close()
        pump.close_feed(asyncio.get_running_loop())


class ToxiproxyServer:
    """The server on its own event-loop thread; a context manager.

    >>> with ToxiproxyServer("127.0.0.1", 0) as srv:   # doctest: +SKIP
    ...     requests.get(srv.api_url + "/version")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        *,
        config: str | Path | None = None,
        proxy_metrics: bool = False,
        runtime_metrics: bool = False,
        processes: int = 1,
        start_timeout: float = 10.0,
    ) -> None:
        self.options = ServerOptions(
            host, port, Path(config) if config is not None else None, proxy_metrics, runtime_metrics,
            processes,
        )
        self._start_timeout = start_timeout
        #: Why the server stopped on its own (a data-plane process was lost), else None.
        self.failure: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._app: _App | None = None

    # -- properties ------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._require_app().address[0]

    @property
    def port(self) -> int:
        return self._require_app().address[1]

    @property
    def api_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = "[::1]" if host == "::" else f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _require_app(self) -> _App:
        if self._app is None or not self._ready.is_set():
            raise RuntimeError("ToxiproxyServer is not running; call start() or use 'with'")
        return self._app

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ToxiproxyServer:
        if self._thread is not None:
            raise RuntimeError("ToxiproxyServer already started")
        self._thread = threading.Thread(target=self._thread_main, name="toxiproxy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            self.stop()
            raise ServerStartError(f"server did not start within {self._start_timeout} s")
        if self._error is not None:
            self._thread.join(self._start_timeout)
            self._thread = None
            raise ServerStartError(str(self._error)) from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # loop already closed: the thread is finishing on its own
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"toxiproxy server thread did not stop within {timeout} s")
        self._thread = None

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            eventloop.run(self._main())
        except BaseException as exc:  # reported to start(); nothing is swallowed
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("toxiproxy server loop crashed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = _App(self.options)
        try:
            await app.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._app = app
        self._ready.set()
        try:
            self.failure = await _until_stopped(self._stop, app)
        finally:
            await app.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8474,
    *,
    config: str | Path | None = None,
    proxy_metrics: bool = False,
    runtime_metrics: bool = False,
    processes: int = 1,
) -> int:
    """Run in the foreground until SIGINT or SIGTERM; returns the exit code.

    0 once stopped by a signal; 1 when a data-plane process was lost (see ``dataplane.py``).
    """
    options = ServerOptions(
        host, port, Path(config) if config is not None else None, proxy_metrics, runtime_metrics, processes
    )
    before, after = raise_open_files_limit()
    if after != before:
        log.info("open files limit raised from %d to %d (the hard limit)", before, after)
    return eventloop.run(_serve_forever(options))


def raise_open_files_limit() -> tuple[int, int]:
    """Lift this process's soft limit on open files to its hard limit, as Go's runtime does for the
    official Toxiproxy; data-plane helpers inherit it. A proxied connection holds two sockets, and
    the native pump a duplicate of each: four descriptors a connection, so a host shell's usual soft
    limit of 1,024 would stop a spike near 250 connections.
    Returns (before, after); unchanged where the limit cannot be read or raised."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        if soft == resource.RLIM_INFINITY or soft >= target:
            return soft, soft
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        log.warning("could not raise the open files limit: %s", exc)
        return 0, 0
    return soft, target


async def _until_stopped(stop: asyncio.Event, app: _App) -> str | None:
    """Wait for ``stop`` or for the app's fatal error; returns the error, if that came first."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    fatal: asyncio.Future[Any] = app.fatal
    await asyncio.wait({stopping, fatal}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    return app.fatal.result() if app.fatal.done() else None


async def _serve_forever(options: ServerOptions) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):
            log.warning("cannot install a handler for %s", signum.name)
    app = _App(options)
    failure: str | None = None
    try:
        await app.start()
        failure = await _until_stopped(stop, app)
        log.info("shutting down")
    finally:
        await app.stop()
        for signum in installed:
            loop.remove_signal_handler(signum)
    return 0 if failure is None else 1
