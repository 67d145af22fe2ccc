"""gunicorn `gthread` worker with an elastic request-thread pool.

Stock gthread creates its request threads once and keeps them forever, and a
failed thread start inside its accept loop kills the worker process (taking every
in-flight request and mail thread with it, then booting a fresh one). This worker
keeps gthread's design (one acceptor loop, a bounded pool of request threads,
keep-alive in the loop) but:

* request threads come and go (`THREAD_IDLE_S`), so they draw on the same
  thread budget as the mail threads, as in the incident;
* when no idle request thread exists and the OS refuses a new one, the request
  waits for a thread (`REQUEST_OVERFLOW=wait`, the default: throttle.py), or the
  acceptor answers `503 Service Unavailable` itself and closes the connection
  (`REQUEST_OVERFLOW=reject`: a fast fail), counts it, and keeps serving.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from gunicorn.workers.gthread import ThreadWorker

from . import runtime
from .throttle import Throttle
from .threadpool import ElasticThreadPool, ThreadStartError

log = logging.getLogger("ticketing.server")

_BODY = b'{"error": "no request thread available (cannot start new thread)"}'
_REJECT = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class BoundedThreadWorker(ThreadWorker):
    def get_thread_pool(self) -> Throttle:
        idle_s = float(os.environ.get("THREAD_IDLE_S", "0") or 0)
        overflow = os.environ.get("REQUEST_OVERFLOW", "").strip() or "wait"  # validated in gunicorn.conf.py
        pool = ElasticThreadPool(max_workers=self.cfg.threads, idle_timeout_s=idle_s)
        throttle = Throttle(pool, overflow)
        runtime.request_pool = pool
        runtime.throttle = throttle
        # Linux holds backlog + 1 connections in the listen queue: those count as open too.
        runtime.connections_max = self.cfg.worker_connections + self.cfg.backlog + 1
        return throttle

    def enqueue_req(self, conn) -> None:
        try:
            super().enqueue_req(conn)
        except ThreadStartError as exc:
            self.nr_conns -= 1
            runtime.note_request_rejected()
            _reject(conn.sock)
            _log_throttled(exc)


def _reject(sock: socket.socket) -> None:
    try:
        sock.settimeout(0.5)
        sock.sendall(_REJECT)
        sock.shutdown(socket.SHUT_WR)
        # Drain what the client already sent so close() sends FIN, not RST
        # (an RST can make the client lose the 503 it has not read yet).
        sock.setblocking(False)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


_last_log = [0.0, 0]  # (time of last line, rejections since); only the acceptor thread writes it


def _log_throttled(exc: Exception) -> None:
    """At most one line a second, so a flood of rejections cannot flood the log."""
    now = time.monotonic()
    _last_log[1] += 1
    if now - _last_log[0] >= 1.0:
        log.error("answered 503 to %d request(s) since the last report: no idle request thread "
                  "and a new one could not start (%s)", _last_log[1], exc)
        _last_log[0], _last_log[1] = now, 0
