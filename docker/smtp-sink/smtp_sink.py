"""In-memory SMTP sink with a tiny HTTP API (faultdrill demo stack).

SMTP on SMTP_PORT (default 1025) accepts every message from anyone to anyone and
keeps a summary of it in memory (sender, recipients, subject, size, time). HTTP on
HTTP_PORT (default 8025):

    GET    /messages            {"count", "stored", "recipients", "recipients_truncated"}
           ?limit=N             only the N most recent recipients (default 1000, 0 = all)
           ?to=ADDR             count only messages addressed to ADDR
    DELETE /messages            forget everything; {"deleted": n}
    GET    /healthz             200 {"status": "ok"}

Both servers share one asyncio loop; nothing here sleeps or throttles. Slowness
is injected in front of the sink (Toxiproxy), never inside it.
"""

from __future__ import annotations

import asyncio
import collections
import email.parser
import email.policy
import json
import logging
import os
import signal
import time
import urllib.parse
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP

log = logging.getLogger("smtp-sink")


@dataclass(frozen=True)
class Message:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    size: int
    received_at: float


class Store:
    """Bounded message store. `count` keeps counting when old messages are evicted."""

    def __init__(self, max_stored: int) -> None:
        self._messages: collections.deque[Message] = collections.deque(maxlen=max_stored)
        self.count = 0

    def add(self, message: Message) -> None:
        self._messages.append(message)
        self.count += 1

    def clear(self) -> int:
        deleted = self.count
        self._messages.clear()
        self.count = 0
        return deleted

    def summary(self, limit: int, to: str | None) -> dict:
        messages = [m for m in self._messages if to is None or to in m.rcpt_tos]
        count = len(messages) if to is not None else self.count
        recipients = [r for m in messages for r in m.rcpt_tos if to is None or r == to]
        truncated = 0 < limit < len(recipients)
        if truncated:
            recipients = recipients[-limit:]
        return {
            "count": count,
            "stored": len(messages),
            "recipients": recipients,
            "recipients_truncated": truncated,
        }


_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)


class SinkHandler:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd hook
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "replace")
        subject = _HEADER_PARSER.parsebytes(content).get("Subject", "") or ""
        self.store.add(Message(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            subject=str(subject),
            size=len(content),
            received_at=time.time(),
        ))
        return "250 Message accepted for delivery"


async def handle_http(store: Store, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _version = request_line.split(" ", 2)
        url = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(url.query)
        status, body = route(store, method.upper(), url.path, query)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        status, body = 400, {"error": "bad request"}
    except ConnectionError:
        writer.close()
        return
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload
    )
    try:
        await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def route(store: Store, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
    if path == "/healthz":
        return 200, {"status": "ok"}
    if path != "/messages":
        return 404, {"error": f"no route {path}; try GET or DELETE /messages"}
    if method == "GET":
        limit = int(query.get("limit", ["1000"])[0])
        if limit < 0:
            raise ValueError("limit must be >= 0")
        return 200, store.summary(limit=limit, to=query.get("to", [None])[0])
    if method == "DELETE":
        return 200, {"deleted": store.clear()}
    return 405, {"error": f"method {method} not allowed on /messages"}


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    smtp_port = int(os.environ.get("SMTP_PORT", "1025"))
    http_port = int(os.environ.get("HTTP_PORT", "8025"))
    store = Store(max_stored=int(os.environ.get("MAX_STORED", "100000")))
    handler = SinkHandler(store)
    loop = asyncio.get_running_loop()

    # hostname given explicitly: aiosmtpd would otherwise call socket.getfqdn(),
    # a DNS lookup per connection that can take seconds on an isolated network.
    smtp_server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp-sink", ident="faultdrill smtp-sink"),
        host="0.0.0.0", port=smtp_port, backlog=1024,
    )
    http_server = await asyncio.start_server(
        lambda r, w: handle_http(store, r, w), host="0.0.0.0", port=http_port, backlog=256,
    )
    log.info("SMTP on :%d, HTTP on :%d", smtp_port, http_port)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down after %d messages", store.count)
    smtp_server.close()
    http_server.close()


if __name__ == "__main__":
    asyncio.run(main())
