"""The master's door: which connections become Locust workers, and the join conversation (see ``join``).

Runs inside the load child (gevent-patched): it wraps the MasterRunner's ``handle_message`` so that
a connection that has not shown a ticket is heard only for ``fd_join``, ``fd_auth`` and ``fd_clock``;
anything else from it (Locust's ``client_ready``, heartbeats) is dropped and a stranger's Locust
worker is told to quit. Every worker, local or remote, shows a ticket: one rule for all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from locust.rpc import Message

from faultdrill.load.join import (
    AUTH_MSG,
    CLOCK_MSG,
    JOIN_MSG,
    OPEN_MSGS,
    REFUSED_MSG,
    WELCOME_MSG,
    ClockEstimate,
    Roster,
    WorkerEntry,
    versions,
)

log = logging.getLogger("faultdrill.load")

OnJoined = Callable[[WorkerEntry], None]
MakeWelcome = Callable[[WorkerEntry], dict[str, Any]]


class MasterDoor:
    def __init__(self, runner: Any, roster: Roster, welcome: MakeWelcome, *, started: Callable[[], bool],
                 on_joined: OnJoined) -> None:
        self.runner = runner
        self.roster = roster
        self.welcome = welcome
        self.started = started
        self.on_joined = on_joined
        self.versions = versions()
        self.strangers: set[str] = set()
        self._inner = runner.handle_message
        runner.handle_message = self._handle  # the listener greenlet calls self.handle_message each time

    def _send(self, client_id: str, kind: str, data: dict[str, Any]) -> None:
        self.runner.server.send_to_client(Message(kind, data, client_id))

    def _handle(self, client_id: str, msg: Any) -> None:
        if msg.type in OPEN_MSGS:
            self._open(client_id, msg)
        elif client_id in self.roster.admitted:
            self._inner(client_id, msg)
        else:
            self._stranger(client_id, msg)

    def _open(self, client_id: str, msg: Any) -> None:
        data = msg.data if isinstance(msg.data, dict) else {}
        if msg.type == CLOCK_MSG:  # stamped as soon as it is read: the master's half of a round trip
            self._send(client_id, CLOCK_MSG, {"t1": data.get("t1"), "t2": time.monotonic()})
        elif msg.type == JOIN_MSG:
            self._join(client_id, data)
        elif msg.type == AUTH_MSG:
            self._auth(client_id, data)

    def _join(self, join_id: str, data: dict[str, Any]) -> None:
        host = str(data.get("host", "?"))[:120]
        got = self.roster.join(join_id, host, data.get("versions") or {}, data.get("mac"), self.versions,
                               self.started())
        if isinstance(got, str):
            log.warning("a load worker on %s was refused: %s", host, got)
            self._send(join_id, REFUSED_MSG, {"reason": got})
            return
        self._send(join_id, WELCOME_MSG, self.welcome(got))

    def _auth(self, client_id: str, data: dict[str, Any]) -> None:
        refused = data.get("refused")
        if isinstance(refused, str):  # the worker itself refused its part (e.g. its allow_hosts check)
            log.warning("a load worker refused to take part: %s", refused[:300])
            self.roster.refused_by_worker(client_id, refused[:300])
            return
        entry = self.roster.admit(client_id, data.get("ticket"))
        if entry is None:
            log.warning("a connection showed no valid ticket; ignored (%s)", client_id[:60])
            self.strangers.add(client_id)
            return
        clock = data.get("clock")
        if isinstance(clock, dict):
            try:
                entry.clock = ClockEstimate.from_json(clock)
            except (KeyError, TypeError, ValueError):
                log.warning("worker %d sent an unreadable clock estimate: %r", entry.index, clock)
        self.on_joined(entry)

    def _stranger(self, client_id: str, msg: Any) -> None:
        if client_id not in self.strangers:
            self.strangers.add(client_id)
            log.warning("a Locust worker that did not join this drill tried to connect (%s); told to quit",
                        client_id[:60])
        if msg.type == "client_ready":
            self._send(client_id, "quit", {})
