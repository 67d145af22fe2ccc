"""A load worker on another machine: ``faultdrill worker --master HOST:PORT --token T`` runs this.

It joins the drill's master (see ``join`` for the conversation), measures its clock's offset to the
master's, takes the journeys and run config the master ships, checks the target against the
drill's ``allow_hosts`` itself, then runs as one of the drill's Locust workers (``worker.run_worker``)
with its seconds binned on the master's run clock. Exit codes: 0 took part, 2 refused (token,
versions, target, a full or running drill), 3 no master answered within ``--wait``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust.rpc import Message, rpc  # noqa: E402

from faultdrill.load.config import ChildConfig  # noqa: E402
from faultdrill.load.join import (  # noqa: E402
    AUTH_MSG,
    CLOCK_MSG,
    JOIN_MSG,
    REFUSED_MSG,
    TOKEN_ENV,
    WELCOME_MSG,
    ClockEstimate,
    ClockSample,
    mac,
    split_master,
    unpack_journeys,
    versions,
)
from faultdrill.load.safety import host_problem  # noqa: E402

CLOCK_ROUNDS = 8
log = logging.getLogger("faultdrill.worker")


class Refused(Exception):
    """The master (or this worker's own check) said no: exit 2."""


class NoMaster(Exception):
    """No master answered: exit 3."""


def _message(kind: str, data: dict[str, Any], node_id: str) -> Any:
    return Message(kind, data, node_id)


def _close(client: Any) -> None:
    client.close(linger=0)


def say(message: str) -> None:
    print(f"faultdrill worker: {message}", file=sys.stderr, flush=True)


def _recv(client: Any, timeout: float) -> Any:
    try:
        with gevent.Timeout(timeout):
            return client.recv()
    except gevent.Timeout:
        return None


def join(host: str, port: int, token: str, wait: float) -> tuple[dict[str, Any], ClockEstimate, Any]:
    """The welcome, the clock offset, and the join connection (still open: refusals go back on it)."""
    join_id = f"{socket.gethostname()}_fdjoin_{uuid.uuid4().hex}"
    try:
        client: Any = rpc.Client(host, port, join_id)
    except Exception as exc:  # zmq refuses a host it cannot resolve, a bad address
        raise NoMaster(f"cannot connect to {host}:{port}: {type(exc).__name__}: {exc}") from exc
    client.send(_message(JOIN_MSG, {"versions": versions(), "mac": mac(token, join_id),
                                   "host": socket.gethostname()}, join_id))
    reply = _recv(client, wait)
    if reply is None:
        _close(client)
        raise NoMaster(f"no drill answered at {host}:{port} within {wait:g}s (is the drill preparing its load, "
                       "and does its load.workers.listen name an address this machine reaches?)")
    if reply.type == REFUSED_MSG:
        _close(client)
        raise Refused(f"the drill refused this worker: {reply.data.get('reason')}")
    if reply.type != WELCOME_MSG:
        _close(client)
        raise Refused(f"unexpected answer from the master: {reply.type}")
    samples = []
    for _ in range(CLOCK_ROUNDS):
        client.send(_message(CLOCK_MSG, {"t1": time.monotonic()}, join_id))
        answer = _recv(client, 5.0)
        t3 = time.monotonic()
        if answer is not None and answer.type == CLOCK_MSG:
            samples.append(ClockSample(float(answer.data["t1"]), float(answer.data["t2"]), t3))
    if not samples:
        _close(client)
        raise NoMaster("the master answered the join but none of the clock round trips")
    return dict(reply.data), ClockEstimate.best(samples), client


def prepare(welcome: dict[str, Any], master_host: str, workdir: Path) -> ChildConfig:
    """This worker's config, its journeys written locally; refused if the target is not allowed."""
    data = dict(welcome["config"])
    data["journeys"] = unpack_journeys(welcome["journeys"], workdir)
    config = ChildConfig.from_json(data)
    problem = host_problem(config.host, config.allow_hosts)
    if problem:
        raise Refused(f"{problem} (checked on this worker too)")
    from dataclasses import replace

    return replace(config, master_host=master_host)


def run(master: str, token: str, wait: float) -> int:
    address = split_master(master)
    if address is None:
        say(f"--master must be HOST:PORT, got {master!r}")
        return 2
    host, port = address
    from faultdrill.load.worker import ClockKeeper, run_worker

    try:
        welcome, clock, client = join(host, port, token, wait)
        try:
            with tempfile.TemporaryDirectory(prefix="faultdrill-worker-") as tmp:
                try:
                    config = prepare(welcome, host, Path(tmp))
                except (Refused, ValueError, KeyError, TypeError) as exc:
                    client.send(_message(AUTH_MSG, {"refused": f"{socket.gethostname()}: {exc}"}, "x"))
                    gevent.sleep(0.2)
                    raise Refused(str(exc)) from exc
                _close(client)
                say(f"joined the drill at {master} as worker {config.worker_index}; clock offset to the master "
                    f"{clock.offset:+.6f} s ± {clock.uncertainty * 1000:.2f} ms; target {config.host}")
                run_worker(config, offset=clock.offset, clock=ClockKeeper(clock))
        finally:
            _close(client)
    except Refused as exc:
        say(str(exc))
        return 2
    except NoMaster as exc:
        say(str(exc))
        return 3
    say("the drill ended; this worker is done")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faultdrill worker", description="join a drill as a load worker")
    parser.add_argument("--master", required=True, help="HOST:PORT of the drill's master (load.workers.listen)")
    parser.add_argument("--token", default=None, help=f"the drill's worker token (or ${TOKEN_ENV})")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the master to answer")
    args = parser.parse_args(argv)
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        say(f"a token is needed: --token T or ${TOKEN_ENV} (the drill prints it when it waits for workers)")
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(args.master, token, args.wait)
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
