"""``python3 -m faultdrill.toxiproxy_server.replica``: one data-plane process.

Started by the API process (``dataplane.py``), never by hand. It serves the proxies the API
process sends it, on the listening sockets it passes, until its channel ends: the API process has
stopped (or died), so it stops too, closing its connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from . import eventloop, logs, pump
from .dataplane import MAX_FDS, MAX_MESSAGE, send_message
from .metrics import Metrics
from .mirror import apply_state
from .proxy import ProxyCollection

log = logging.getLogger("faultdrill.toxiproxy_server.replica")  # also when run as __main__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m faultdrill.toxiproxy_server.replica")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--proxy-metrics", action="store_true")
    args = parser.parse_args(argv)
    logs.setup()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the API process's to handle
    return eventloop.run(_serve(args.channel_fd, args.index, args.proxy_metrics))


async def _serve(channel_fd: int, index: int, proxy_metrics: bool) -> int:
    channel = socket.socket(fileno=channel_fd)
    channel.setblocking(False)
    metrics = Metrics(proxy_metrics=proxy_metrics)
    collection = ProxyCollection(metrics)
    loop = asyncio.get_running_loop()
    failures: list[str] = []

    def pump_failed(reason: str) -> None:
        # Stop now (exit 1): the API process then sees a lost helper and stops the whole server.
        log.error("data-plane process %d: %s; stopping", index, reason)
        failures.append(reason)
        channel.shutdown(socket.SHUT_RDWR)

    pump.open_feed(loop, pump_failed)
    send_message(channel, {"ok": True, "ready": os.getpid()})
    try:
        while (received := await _receive(channel)) is not None:
            body, fds = received
            send_message(channel, await _handle(collection, metrics, body, fds))
    finally:
        await collection.stop_all()
        pump.close_feed(loop)
        channel.close()
    if failures:
        return 1
    log.info("data-plane process %d: the API process has gone; stopped", index)
    return 0


async def _handle(collection: ProxyCollection, metrics: Metrics, body: dict[str, Any],
                  fds: list[int]) -> dict[str, Any]:
    try:
        if body.get("op") == "state":
            await apply_state(collection, body, fds)
            return {"ok": True}
        for fd in fds:
            os.close(fd)
        if body.get("op") == "counts":
            return {"ok": True, "counts": metrics.counts(collection.gauges()).to_json()}
        return {"ok": False, "error": f"unknown request {body.get('op')!r}"}
    except Exception as exc:  # answered to the API process, which stops the server
        log.exception("data-plane process could not take on a request")
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def _receive(channel: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """The next message and the descriptors it carries; None once the API process has gone."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, fds, flags, _ = socket.recv_fds(channel, MAX_MESSAGE, MAX_FDS)
        except BlockingIOError:
            await _readable(loop, channel)
            continue
        except OSError:
            return None
        if not data:
            for fd in fds:
                os.close(fd)
            return None
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise RuntimeError("a data-plane message was cut short")
        return json.loads(data), fds


async def _readable(loop: asyncio.AbstractEventLoop, channel: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(channel.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(channel.fileno())


if __name__ == "__main__":
    sys.exit(main())
