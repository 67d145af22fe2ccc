"""Connections as the clients really made them, per profile, in the load child.

``ConnTracker.install()`` wraps gevent's socket ``connect`` and SSL ``do_handshake`` (the load
child is gevent-patched, so FastHttpUser/geventhttpclient and HttpUser/urllib3 both go through
them). Every connect and handshake is counted for the profile of the simulated user whose greenlet
made it, and the socket is remembered for that user, so that ``close_owner`` can close every
connection a user opened when the user stops — Locust itself leaves them open until garbage
collection, which a drill would see as connections that never go away.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from faultdrill.histograms import DEFAULT_PROFILE

OnCount = Callable[[str, str], None]  # (profile, counter name)


class ConnTracker:
    def __init__(self, on_count: OnCount) -> None:
        self.on_count = on_count
        self._owner_of: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # greenlet -> owner
        self._sockets: weakref.WeakKeyDictionary[Any, list[weakref.ref[Any]]] = weakref.WeakKeyDictionary()
        self._restore: list[Callable[[], None]] = []

    # -- attribution ---------------------------------------------------------------
    def bind(self, greenlet: Any, owner: Any) -> None:
        """Connections made by ``greenlet`` from now on belong to ``owner`` (a simulated user)."""
        self._owner_of[greenlet] = owner

    def unbind(self, greenlet: Any) -> None:
        self._owner_of.pop(greenlet, None)

    def owner(self) -> Any:
        import gevent

        return self._owner_of.get(gevent.getcurrent())

    def profile(self) -> str:
        return getattr(self.owner(), "_fd_profile", None) or DEFAULT_PROFILE

    def _remember(self, sock: Any) -> None:
        owner = self.owner()
        if owner is not None:
            refs = self._sockets.setdefault(owner, [])
            refs[:] = [r for r in refs if r() is not None]
            refs.append(weakref.ref(sock))

    def close_owner(self, owner: Any) -> int:
        """Close every socket ``owner`` opened that is still open; returns how many."""
        closed = 0
        for ref in self._sockets.pop(owner, []):
            sock = ref()
            if sock is None:
                continue
            try:
                if sock.fileno() >= 0:
                    sock.close()
                    closed += 1
            except OSError:
                pass
        return closed

    # -- instrumentation -------------------------------------------------------------
    def install(self) -> None:
        import gevent.socket
        import gevent.ssl

        tracker = self
        sock_cls = gevent.socket.socket
        ssl_cls = gevent.ssl.SSLSocket
        real_connect, real_handshake = sock_cls.connect, ssl_cls.do_handshake

        def connect(sock: Any, address: Any) -> Any:
            try:
                result = real_connect(sock, address)
            except OSError:
                tracker.on_count(tracker.profile(), "connect_errors")
                raise
            tracker.on_count(tracker.profile(), "connects")
            tracker._remember(sock)
            return result

        def do_handshake(sock: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = real_handshake(sock, *args, **kwargs)
            except OSError:  # ssl.SSLError is an OSError
                tracker.on_count(tracker.profile(), "tls_errors")
                raise
            tracker.on_count(tracker.profile(), "tls_ok")
            tracker._remember(sock)
            return result

        # patched on the classes, so every socket of every user is counted
        setattr(sock_cls, "connect", connect)  # noqa: B010
        setattr(ssl_cls, "do_handshake", do_handshake)  # noqa: B010

        def restore() -> None:
            setattr(sock_cls, "connect", real_connect)  # noqa: B010
            setattr(ssl_cls, "do_handshake", real_handshake)  # noqa: B010

        self._restore.append(restore)

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()
