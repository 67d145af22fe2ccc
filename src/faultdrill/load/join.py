"""Remote load workers joining a drill: versions, the per-run token, tickets, clocks. Pure: no I/O.

How a worker joins (Locust's own master/worker transport carries every message; see docs/scale.md):

1. ``fd_join`` from a throw-away connection (as Locust's own locustfile download does): the worker's
   versions and ``mac(token, join_id)``. The master refuses (``fd_refused``, with the reason) a bad
   token, different versions, a full drill or a drill already running; otherwise it answers
   ``fd_welcome`` with the worker's config, its journeys and a one-time ticket.
2. ``fd_clock`` round trips on the same connection (NTP style: the lowest round trip wins), so the
   worker knows ``offset`` = master clock − its own clock, and the uncertainty (half that round trip).
3. The worker starts Locust's WorkerRunner, whose first message is ``fd_auth`` with the ticket. The
   master ignores every other message from a connection that has not shown a ticket, so a stranger
   never becomes a Locust worker (and is never given users).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL = 1
JOIN_MSG, WELCOME_MSG, REFUSED_MSG = "fd_join", "fd_welcome", "fd_refused"
AUTH_MSG, CLOCK_MSG = "fd_auth", "fd_clock"
OPEN_MSGS = frozenset({JOIN_MSG, AUTH_MSG, CLOCK_MSG})  # the only messages a connection may send before its ticket


def versions() -> dict[str, Any]:
    """What must match between master and worker for their records to merge exactly."""
    from importlib.metadata import version

    from faultdrill import __version__

    return {"faultdrill": __version__, "locust": version("locust"), "protocol": PROTOCOL,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


def version_problem(worker: dict[str, Any], master: dict[str, Any]) -> str | None:
    """Why a worker with ``worker`` versions may not join a master with ``master`` ones, or None."""
    different = [key for key in ("faultdrill", "locust", "protocol") if worker.get(key) != master.get(key)]
    if not different:
        return None

    def said(v: dict[str, Any]) -> str:
        return f"faultdrill {v.get('faultdrill')} with Locust {v.get('locust')} (protocol {v.get('protocol')})"

    return (f"version mismatch: this worker runs {said(worker)}, the drill's master runs {said(master)}; "
            "install the same faultdrill and Locust versions on every load machine")


TOKEN_ENV = "FAULTDRILL_WORKER_TOKEN"  # the token for workers started before the drill (or without --token)


def split_master(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[v6]:PORT`` too) → (host, port); None if it is not one."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    return (host, int(port)) if sep and host and port.isdigit() else None


def new_token() -> str:
    return secrets.token_urlsafe(18)


def mac(token: str, join_id: str) -> str:
    """Proof of the token bound to one connection (the token itself never crosses the wire)."""
    return hmac.new(token.encode(), join_id.encode(), hashlib.sha256).hexdigest()


def mac_ok(token: str, join_id: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(mac(token, join_id), given)


# -- journeys ------------------------------------------------------------------------------
def pack_journeys(journeys: str) -> dict[str, str]:
    """What the master ships: a pack's name (``builtin:``/``pack:``, installed on every worker), or a
    single-file locustfile's source."""
    from faultdrill.load.journeys import pack_name

    if pack_name(journeys) is not None:
        return {"builtin": journeys}
    path = Path(journeys)
    return {"filename": path.name, "source": path.read_text(encoding="utf-8")}


def unpack_journeys(packed: dict[str, str], into: Path) -> str:
    """The ``journeys`` value for the worker's own config (a locustfile written under ``into``)."""
    if "builtin" in packed:
        return packed["builtin"]
    name = Path(packed["filename"]).name  # never a path the master chose
    if not name.endswith(".py"):
        name += ".py"
    target = into / name
    target.write_text(packed["source"], encoding="utf-8")
    return str(target)


# -- clocks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockSample:
    """One round trip: sent at ``t1`` (worker clock), stamped ``t2`` by the master, back at ``t3``."""

    t1: float
    t2: float
    t3: float

    @property
    def rtt(self) -> float:
        return max(self.t3 - self.t1, 0.0)

    @property
    def offset(self) -> float:
        """Master clock minus worker clock, assuming the trip took as long each way."""
        return self.t2 - (self.t1 + self.t3) / 2


@dataclass(frozen=True)
class ClockEstimate:
    offset: float  # master clock - worker clock, seconds
    uncertainty: float  # half the round trip of the sample it comes from: the true offset is within ±this
    rtt: float
    samples: int

    @classmethod
    def best(cls, samples: Iterable[ClockSample]) -> ClockEstimate:
        """The sample with the lowest round trip (the least room for asymmetry), as NTP does."""
        got = list(samples)
        if not got:
            raise ValueError("no clock samples")
        low = min(got, key=lambda s: s.rtt)
        return cls(low.offset, low.rtt / 2, low.rtt, len(got))

    def to_json(self) -> dict[str, float | int]:
        return {"offset_s": round(self.offset, 6), "uncertainty_s": round(self.uncertainty, 6),
                "rtt_s": round(self.rtt, 6), "samples": self.samples}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClockEstimate:
        return cls(float(data["offset_s"]), float(data["uncertainty_s"]), float(data["rtt_s"]),
                   int(data["samples"]))


# -- the master's book of workers ----------------------------------------------------------
@dataclass
class WorkerEntry:
    index: int
    host: str
    remote: bool
    join_id: str = ""
    ticket: str = ""
    client_id: str = ""  # the Locust connection that showed the ticket
    clock: ClockEstimate | None = None  # at join
    drift: list[float] = field(default_factory=list)  # offsets measured during the run, one per new measure
    clock_rounds: int | None = None  # the worker's round-trip count at its last measure
    worst_uncertainty: float = 0.0
    last_seen: float | None = None  # master clock: its last record
    done: bool = False
    lost_at: float | None = None  # run clock
    lost_why: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "host": self.host, "remote": self.remote}
        if self.clock is not None:
            out["clock"] = self.clock.to_json()
        if self.drift:
            out["clock_during_run"] = {"min_offset_s": round(min(self.drift), 6),
                                       "max_offset_s": round(max(self.drift), 6), "samples": len(self.drift),
                                       "worst_uncertainty_s": round(self.worst_uncertainty, 6)}
        if self.lost_at is not None:
            out["lost_at_s"] = round(self.lost_at, 3)
            out["lost_why"] = self.lost_why
        return out


class Roster:
    """Who may join, who has, and who is gone (pure bookkeeping)."""

    def __init__(self, local: int, remote: int, token: str) -> None:
        self.local, self.remote, self.token = local, remote, token
        self.entries: dict[int, WorkerEntry] = {}
        self.by_join: dict[str, int] = {}
        self.admitted: dict[str, int] = {}  # Locust client id -> worker index
        self.refusals: list[str] = []  # from workers that showed the token: the drill stops at once
        self.turned_away: list[str] = []  # anyone else, and extra workers: said if the drill's wait runs out
        for index in range(local):
            self.entries[index] = WorkerEntry(index, "local", False, ticket=secrets.token_hex(16))

    @property
    def total(self) -> int:
        return self.local + self.remote

    def join(self, join_id: str, host: str, worker_versions: dict[str, Any], given_mac: object,
             master_versions: dict[str, Any], started: bool) -> WorkerEntry | str:
        """A worker's join: its entry (a repeated join gets the same one), or why it is refused.

        Only a worker that showed the token can stop the drill (a version mismatch: it will never join);
        anything a stranger sends, or an extra worker, is turned away without stopping a drill that has or
        will get its workers — one connection from anywhere must not be able to abort a run."""
        if not mac_ok(self.token, join_id, given_mac):
            return self._turn_away(host, "wrong token: start the worker with the token this drill printed (--token)")
        problem = version_problem(worker_versions, master_versions)
        if problem:
            self.refusals.append(f"{host}: {problem}")
            return problem
        if join_id in self.by_join:
            return self.entries[self.by_join[join_id]]
        if started:
            return self._turn_away(host, "the drill is already running: remote workers join before it starts")
        taken = [e.index for e in self.entries.values() if e.remote]
        if len(taken) >= self.remote:
            return self._turn_away(host, f"the drill already has its {self.remote} remote worker(s)")
        index = self.local + len(taken)
        entry = WorkerEntry(index, host, True, join_id=join_id, ticket=secrets.token_hex(16))
        self.entries[index] = entry
        self.by_join[join_id] = index
        return entry

    def _turn_away(self, host: str, why: str) -> str:
        if len(self.turned_away) < 20:  # bounded: a flood of strangers must not grow the master
            self.turned_away.append(f"{host}: {why}")
        return why

    def refused_by_worker(self, join_id: str, why: str) -> bool:
        """A joined worker refusing its part (its own allow_hosts check): stops the drill. False if the
        connection never joined with the token (then it is only turned away)."""
        if join_id not in self.by_join:
            self._turn_away("?", f"a refusal from a connection that did not join: {why}")
            return False
        self.refusals.append(why)
        return True

    def admit(self, client_id: str, ticket: object) -> WorkerEntry | None:
        """A Locust connection showing a ticket; None if it is not one we issued (or already used)."""
        if not isinstance(ticket, str):
            return None
        for entry in self.entries.values():
            if entry.ticket and hmac.compare_digest(entry.ticket, ticket) and not entry.client_id:
                entry.client_id = client_id
                self.admitted[client_id] = entry.index
                return entry
        return None

    def seen(self, index: int, now: float) -> None:
        entry = self.entries.get(index)
        if entry is not None:
            entry.last_seen = now

    def overdue(self, now: float, silent_for: float) -> list[WorkerEntry]:
        """Workers still counted on that sent nothing for ``silent_for`` s (not done, not lost yet)."""
        return [e for e in self.entries.values()
                if not e.done and e.lost_at is None and e.last_seen is not None and now - e.last_seen > silent_for]

    def mark_lost(self, index: int, run_t: float, why: str) -> WorkerEntry | None:
        entry = self.entries.get(index)
        if entry is None or entry.lost_at is not None or entry.done:
            return None
        entry.lost_at, entry.lost_why = run_t, why
        return entry

    def lost(self) -> list[WorkerEntry]:
        return [e for e in self.entries.values() if e.lost_at is not None]

    def describe(self) -> list[dict[str, Any]]:
        return [self.entries[i].describe() for i in sorted(self.entries)]
