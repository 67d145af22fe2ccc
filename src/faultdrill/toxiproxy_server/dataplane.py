"""Data-plane processes: helpers of the API process that carry connections on the other cores.

One Python process moves bytes on one core. With ``processes`` > 1 the API process starts that many
minus one helpers (``python3 -m faultdrill.toxiproxy_server.replica``), each joined to it by a Unix
socket pair. Every listener is shared: the kernel gives each new connection to whichever process
accepts it first, and the connection stays in that process for its life. After each API change the
API process sends every helper the whole state (``mirror.py``) and answers the API call only once all
of them have taken it on, so a client never finds a helper behind an answer it was given.
``/metrics`` adds the helpers' counters to the API process's own.

Fail closed: a helper that exits, stops answering, or cannot take a state on ends the server with an
error in its log and exit code 1. A proxy that went on serving part of its connections without the
toxics asked for would quietly distort the very curves a drill records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .metrics import Counts
from .mirror import MirrorError, state_message
from .proxy import ProxyCollection

__all__ = ["AUTO_PROCESSES_MAX", "MAX_FDS", "MAX_MESSAGE", "DataPlane", "DataPlaneError", "open_channel", "usable_cpus"]

log = logging.getLogger(__name__)

#: Largest state message (a Unix datagram-like packet: one message per send).
MAX_MESSAGE = 4 << 20
#: Listening sockets passed in one message (the kernel's limit is 253).
MAX_FDS = 250
#: ``--processes auto``: one per usable CPU, up to this many.
AUTO_PROCESSES_MAX = 4
REPLY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
#: Where ``faultdrill`` itself is, so a helper imports this very copy of the server.
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class DataPlaneError(RuntimeError):
    pass


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def open_channel() -> tuple[socket.socket, socket.socket]:
    """A socket pair that keeps message boundaries and can carry a state message of MAX_MESSAGE."""
    pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for end in pair:
        try:
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_MESSAGE + 65536)
        except OSError:
            pass  # the kernel's default; a state larger than it fails loudly on send
    return pair


def send_message(sock: socket.socket, body: dict[str, Any], fds: list[int] | None = None) -> None:
    payload = json.dumps(body).encode()
    if len(payload) > MAX_MESSAGE:
        raise DataPlaneError(f"a data-plane message of {len(payload)} bytes is over {MAX_MESSAGE}")
    socket.send_fds(sock, [payload], fds or [])


class Helper:
    """One helper process and its channel."""

    def __init__(self, index: int, process: subprocess.Popen[bytes], channel: socket.socket) -> None:
        self.index = index
        self.process = process
        self.channel = channel
        #: Proxy name -> the listener generation the helper serves (its socket was passed).
        self.known: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def name(self) -> str:
        return f"data-plane process {self.index} (pid {self.process.pid})"

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        reason = "closed its channel"
        try:
            while True:
                data = await loop.sock_recv(self.channel, MAX_MESSAGE)
                if not data:
                    break
                self._replies.put_nowait(json.loads(data))
        except (OSError, ValueError) as exc:
            reason = f"channel failed: {exc}"
        if not self.lost.done():
            code = self.process.poll()
            self.lost.set_result(f"{self.name} {reason}" + (f" (exit code {code})" if code is not None else ""))

    async def request(self, build: Callable[[dict[str, int]], tuple[dict[str, Any], list[socket.socket]]],
                      ) -> dict[str, Any]:
        """Send what ``build`` makes (called once the channel is ours) and wait for the answer;
        the sockets it makes are passed to the helper, and closed here once sent."""
        async with self.lock:
            if self.lost.done():
                raise DataPlaneError(self.lost.result())
            body, sockets = build(self.known)
            try:
                send_message(self.channel, body, [s.fileno() for s in sockets])
            except OSError as exc:
                raise DataPlaneError(f"{self.name}: cannot send: {exc}") from exc
            finally:
                for sock in sockets:
                    sock.close()
            return await self.reply()

    async def reply(self) -> dict[str, Any]:
        getting: asyncio.Future[Any] = asyncio.ensure_future(self._replies.get())
        lost: asyncio.Future[Any] = self.lost
        done, _ = await asyncio.wait({getting, lost}, timeout=REPLY_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if getting not in done:
            getting.cancel()
            raise DataPlaneError(self.lost.result() if self.lost.done()
                                 else f"{self.name} did not answer within {REPLY_TIMEOUT:.0f} s")
        answer: dict[str, Any] = getting.result()
        if not answer.get("ok"):
            raise DataPlaneError(f"{self.name}: {answer.get('error', 'failed')}")
        return answer

    async def close(self) -> None:
        self._reader.cancel()
        self.channel.close()  # the helper sees the end of its channel and stops
        try:
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("%s did not stop within %.0f s; killing it", self.name, STOP_TIMEOUT)
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


class DataPlane:
    """The helper processes of one server (none when it runs in one process)."""

    def __init__(self, processes: int, *, proxy_metrics: bool, on_lost: Callable[[str], None]) -> None:
        self.processes = max(1, processes)
        self._proxy_metrics = proxy_metrics
        self._on_lost = on_lost
        self._helpers: list[Helper] = []
        self._closing = False
        self._watch: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        try:
            for index in range(1, self.processes):
                self._helpers.append(self._spawn(index))
            for helper in self._helpers:
                await helper.reply()
                log.info("%s ready", helper.name)
        except BaseException:
            await self.close()
            raise
        self._watch = [asyncio.get_running_loop().create_task(self._watch_one(h)) for h in self._helpers]

    def _spawn(self, index: int) -> Helper:
        ours, theirs = open_channel()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "faultdrill.toxiproxy_server.replica",
                   "--channel-fd", str(theirs.fileno()), "--index", str(index)]
        if self._proxy_metrics:
            command.append("--proxy-metrics")
        try:
            process = subprocess.Popen(command, pass_fds=[theirs.fileno()], env=env)
        except OSError as exc:
            ours.close()
            raise DataPlaneError(f"cannot start data-plane process {index}: {exc}") from exc
        finally:
            theirs.close()
        ours.setblocking(False)
        return Helper(index, process, ours)

    async def _watch_one(self, helper: Helper) -> None:
        reason = await helper.lost
        if not self._closing:
            self._on_lost(reason)

    async def sync(self, collection: ProxyCollection) -> None:
        """Every helper takes on the proxies' current state before this returns."""
        if self._helpers:
            await asyncio.gather(*(self._sync_one(helper, collection) for helper in self._helpers))

    @staticmethod
    async def _sync_one(helper: Helper, collection: ProxyCollection) -> None:
        sent: list[dict[str, Any]] = []

        def build(known: dict[str, int]) -> tuple[dict[str, Any], list[socket.socket]]:
            try:
                message = state_message(collection, known)
            except (MirrorError, OSError) as exc:
                raise DataPlaneError(f"cannot share the proxies' listeners with {helper.name}: {exc}") from exc
            if len(message.sockets) > MAX_FDS:
                for sock in message.sockets:
                    sock.close()
                raise DataPlaneError(f"{len(message.sockets)} new listeners at once (at most {MAX_FDS})")
            sent.append(message.body)
            return message.body, message.sockets

        await helper.request(build)
        helper.known = {p["name"]: p["generation"] for p in sent[0]["proxies"] if p["enabled"]}

    async def counts(self) -> list[Counts]:
        answers = await asyncio.gather(*(h.request(lambda _known: ({"op": "counts"}, [])) for h in self._helpers))
        return [Counts.from_json(answer["counts"]) for answer in answers]

    async def close(self) -> None:
        self._closing = True
        for task in self._watch:
            task.cancel()
        await asyncio.gather(*(helper.close() for helper in self._helpers))
        self._helpers = []
