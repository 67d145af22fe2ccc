"""Why a request failed, as a short stable name (pure; no Locust import).

Works on the exceptions FastHttpUser (geventhttpclient) and HttpUser (requests/urllib3) really
raise: wrappers are unwrapped through ``original`` (geventhttpclient's RetriesExceeded),
``reason`` (urllib3's MaxRetryError), ``__cause__``/``__context__`` and exception ``args``.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import Any

TIMEOUT_NAMES = {"TimeoutError", "Timeout", "ReadTimeout", "ConnectTimeout", "ReadTimeoutError",
                 "ConnectTimeoutError", "timeout"}
CLOSED_NAMES = {"HTTPConnectionClosed", "RemoteDisconnected", "EmptyResponse", "IncompleteRead",
                "ChunkedEncodingError"}
REFUSED_ERRNOS = {errno.ECONNREFUSED}
RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue and len(seen) < 32:
        e = queue.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for attr in ("original", "reason", "__cause__", "__context__"):
            inner = getattr(e, attr, None)
            if isinstance(inner, BaseException):
                queue.append(inner)
        queue.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def _names(e: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(e).__mro__}


def _is_timeout(e: BaseException) -> bool:
    return (bool(_names(e) & TIMEOUT_NAMES) or getattr(e, "errno", None) == errno.ETIMEDOUT
            or (isinstance(e, ssl.SSLError) and "timed out" in str(e)))


def _is_tls(e: BaseException) -> bool:
    return (isinstance(e, ssl.SSLError) or "SSLError" in _names(e)) and not _is_timeout(e)


def _status(exception: BaseException | None, response: Any) -> int:
    status = getattr(response, "status_code", None) if response is not None else None
    if not status and exception is not None:
        status = getattr(exception, "code", None) or getattr(getattr(exception, "response", None), "status_code", None)
    return status if isinstance(status, int) else 0


def classify_failure(exception: BaseException | None, response: Any) -> str:
    """``HTTP 503``, ``tls handshake``, ``connection refused``, ``connection reset``, ``timeout``,
    ``connection closed``, ``dns``, or the exception's class name."""
    status = _status(exception, response)
    if status >= 400:
        return f"HTTP {status}"
    if exception is None:
        return f"HTTP {status}" if status else "failure"
    chain = list(_chain(exception))
    if any(_is_tls(e) for e in chain):
        return "tls handshake"
    if any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) in REFUSED_ERRNOS for e in chain):
        return "connection refused"
    if any(isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))
           or getattr(e, "errno", None) in RESET_ERRNOS for e in chain):
        return "connection reset"
    if any(_is_timeout(e) for e in chain):
        return "timeout"
    if any(_names(e) & CLOSED_NAMES for e in chain):
        return "connection closed"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns"
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain).lower()
    for words, kind in ((("refused",), "connection refused"), (("reset by peer",), "connection reset"),
                        (("timed out", "timeout"), "timeout"), (("ssl", "handshake"), "tls handshake"),
                        (("closed", "eof", "disconnect"), "connection closed")):
        if any(w in text for w in words):
            return kind
    return type(exception).__name__
