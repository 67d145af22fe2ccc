"""A small HTTP/1.1 server on asyncio streams (what the API needs, no more).

Keep-alive, Content-Length and chunked request bodies, ``Expect:
100-continue``, HEAD without body, and Go-like timeouts (15 s to read a
request, 60 s idle).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote

__all__ = ["Handler", "HttpServer", "Request", "Response"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20
READ_TIMEOUT = 15.0
IDLE_TIMEOUT = 60.0


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without query
    query: str
    version: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._serve, host or None, port, limit=MAX_HEADER_BYTES, backlog=1024
        )
        sockname = self._server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._connections):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._connections.add(writer)
        try:
            while True:
                try:
                    first = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                    if not first:
                        return
                    if first in (b"\r\n", b"\n"):
                        continue
                    request = await asyncio.wait_for(self._read_request(first, reader, writer), READ_TIMEOUT)
                except _BadRequest as exc:
                    await self._send(writer, _plain(exc.status, f"{exc.status} {HTTPStatus(exc.status).phrase}"),
                                     head=False, close=True)
                    return
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    return
                response = await self._handler(request)
                close = _wants_close(request)
                await self._send(writer, response, head=request.method == "HEAD", close=close)
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _read_request(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request:
        try:
            method, target, version = first.decode("latin-1").rstrip("\r\n").split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(505, "unsupported HTTP version")
        headers: dict[str, str] = {}
        total = len(first)
        while True:
            line = await reader.readline()
            total += len(line)
            if total > MAX_HEADER_BYTES:
                raise _BadRequest(431, "headers too large")
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest(400, "malformed header")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raw_path, _, query = target.partition("?")
        if headers.get("expect", "").lower() == "100-continue" and version == "HTTP/1.1":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers, reader)
        return Request(method, unquote(raw_path), query, version, headers, body)

    @staticmethod
    async def _read_body(headers: dict[str, str], reader: asyncio.StreamReader) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            size_total = 0
            while True:
                size_line = await reader.readline()
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest(400, "bad chunk size") from None
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                size_total += size
                if size_total > MAX_BODY_BYTES:
                    raise _BadRequest(413, "body too large")
                parts.append(await reader.readexactly(size))
                await reader.readline()
        length_text = headers.get("content-length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequest(400, "bad content-length") from None
        if length < 0:
            raise _BadRequest(400, "bad content-length")
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413, "body too large")
        return await reader.readexactly(length)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, response: Response, *, head: bool, close: bool) -> None:
        status = response.status
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"HTTP/1.1 {status} {phrase}"]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Date: {formatdate(usegmt=True)}")
        if status != 204 and status >= 200:
            lines.append(f"Content-Length: {len(response.body)}")
        if close:
            lines.append("Connection: close")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head and status != 204:
            payload += response.body
        writer.write(payload)
        await writer.drain()


def _wants_close(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return "keep-alive" not in connection
    return "close" in connection


def _plain(status: int, text: str) -> Response:
    return Response(status, (text + "\n").encode(), [("Content-Type", "text/plain; charset=utf-8")])
