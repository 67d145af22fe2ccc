"""Toxiproxy-API server vs a direct connection: round trips/s and added latency, alternating rounds.

    .venv/bin/python bench/toxiproxy_bench.py [--rounds 3] [--seconds 3] [--concurrency 1 1000]
        [--clients 4] [--api http://127.0.0.1:8474 --upstream-host HOST] [--soak 60]

Everything stays on 127.0.0.1 unless ``--api`` names another Toxiproxy-API server (the official one,
wherever it runs): then ``--upstream-host`` is how that server reaches this machine's echo server.
Without ``--api`` faultdrill's compatible server is started as its own process, exactly as
``faultdrill toxiproxy serve`` runs it (``--server-processes``: its data-plane processes, default
auto), so its RSS and open files, helpers included, can be read.

An echo upstream (``--echo-procs`` processes sharing the port) answers 100-byte ping-pongs; the
clients are ``--clients`` processes, so the client is not the bottleneck. Each round measures
direct, proxied and the floor at each concurrency (each goes first in turn); every measurement is
bounded by a round-trip count and by wall time. The floor is a minimal Python forwarder
(``data_received`` -> ``write``, in as many processes as the server, sharing a port the same way):
the best a proxy whose bytes all go through Python can do on this machine at that moment. The server
copies the bytes of links with no toxic in its native pump instead, so proxied/floor above 1 is what
the pump gains (with ``FAULTDRILL_TOXIPROXY_PUMP=python`` the server is on the floor's path). On a
shared 2-core machine the proxied/direct ratio moves with the machine's state by more than the
code's cost (0.38-0.55 for the same Python path in one afternoon); proxied/floor shows the server's
own part. Clients close with a RST (no TIME_WAIT left behind),
the host's TIME_WAIT sockets are printed with each round, and the run first waits (up to 130 s) for
those earlier work left to expire: thousands of them slow loopback traffic, the proxied side's most.
Goals (issue "Performance"):

* 1 connection: added p50 <= 0.15 ms;
* 1,000 connections: proxied round trips/s >= 0.5x direct, added p99 <= 2x direct's p99;
* ``--soak S``: S seconds at 1,000 proxied connections, the server's RSS growth <= 10 % and its
  open files back to where they started once the clients are gone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import DEFAULT_ROUNDS, Figure, at_least, at_most, report
from quiet import settle, time_wait_sockets

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = b"x" * 100
MAX_ROUND_TRIPS_PER_CONNECTION = 200_000


def _fast_loop() -> None:
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# -- echo upstream ------------------------------------------------------------------------------

async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _serve_for(lifetime: float, start: Callable[[], Awaitable[asyncio.AbstractServer]]) -> None:
    """A server process's life: the fast loop, ``start()``'s server for ``lifetime`` s at most."""
    _fast_loop()

    async def main() -> None:
        server = await start()
        async with server:
            await asyncio.sleep(lifetime)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@contextmanager
def _processes_running(target: Callable[..., None], args: tuple[object, ...], count: int) -> Iterator[None]:
    workers = [mp.Process(target=target, args=args, daemon=True) for _ in range(count)]
    for w in workers:
        w.start()
    try:
        yield
    finally:
        for w in workers:
            w.terminate()
            w.join(10)


def _run_echo(sock: socket.socket, lifetime: float) -> None:
    _serve_for(lifetime, lambda: asyncio.start_server(_echo, sock=sock, backlog=4096))


@contextmanager
def echo_upstream(processes: int, lifetime: float) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", 0))
    sock.listen(4096)
    try:
        with _processes_running(_run_echo, (sock, lifetime), processes):
            yield sock.getsockname()[1]
    finally:
        sock.close()


# -- the floor: the least a Python forwarder can do ------------------------------------------------

class _Side(asyncio.Protocol):
    """One side of a floor connection: bytes in go straight out of the peer's transport."""

    def __init__(self) -> None:
        self.peer: _Side | None = None
        self.transport: asyncio.Transport | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.early.append(data)

    def eof_received(self) -> None:
        self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


def _run_floor(port: int, upstream_port: int, lifetime: float) -> None:
    async def start() -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()

        async def join(client: _Side) -> None:
            upstream = _Side()
            await loop.create_connection(lambda: upstream, "127.0.0.1", upstream_port)
            client.peer, upstream.peer = upstream, client
            assert upstream.transport is not None
            for chunk in client.early:
                upstream.transport.write(chunk)

        joining: set[asyncio.Task[None]] = set()

        class Client(_Side):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                task = loop.create_task(join(self))
                joining.add(task)
                task.add_done_callback(joining.discard)

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        return await loop.create_server(Client, sock=sock, backlog=4096)

    _serve_for(lifetime, start)


@contextmanager
def floor_forwarder(upstream_port: int, processes: int, lifetime: float) -> Iterator[int]:
    """A minimal forwarder (data_received -> write; no toxics, counters or API) in ``processes``
    processes sharing its port as the server's do: the best any Python proxy could do on this machine
    at this moment. Measured beside the server, it tells the machine's state from the server's code."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    with _processes_running(_run_floor, (port, upstream_port, lifetime), processes):
        holder.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the floor forwarder did not start") from None
                time.sleep(0.1)
        yield port


def _server_processes(setting: str) -> int:
    """What ``--processes`` gives the server (its ``auto``: one per usable CPU, at most 4)."""
    return min(len(os.sched_getaffinity(0)), 4) if setting == "auto" else int(setting)


# -- the server under test ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def compatible_server(processes: str = "auto") -> Iterator[tuple[str, int]]:
    """faultdrill's server as its own process(es); yields (api url, pid of the API process)."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "faultdrill.toxiproxy_server", "--host", "127.0.0.1",
                             "--port", str(port), "--processes", processes],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(url + "/version", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the compatible server did not start") from None
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _api(url: str, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    request = urllib.request.Request(url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


@contextmanager
def bench_proxy(api: str, upstream: str) -> Iterator[tuple[str, int]]:
    name = f"fd-bench-{os.getpid()}"
    created = _api(api, "POST", "/proxies", {"name": name, "listen": "0.0.0.0:0", "upstream": upstream})
    host, port = str(created["listen"]).rsplit(":", 1)
    try:
        yield ("127.0.0.1" if host in ("0.0.0.0", "[::]", "") else host.strip("[]")), int(port)
    finally:
        _api(api, "DELETE", f"/proxies/{name}")


# -- clients ------------------------------------------------------------------------------------

def _client_process(host: str, port: int, connections: int, start_at: float, seconds: float,
                    out: mp.Queue[tuple[list[float], int]]) -> None:
    _fast_loop()

    async def run() -> tuple[list[float], int]:
        samples: list[float] = []
        failures = 0
        stop_at = start_at + seconds

        async def one() -> None:
            nonlocal failures
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                failures += 1
                return
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            try:
                for _ in range(MAX_ROUND_TRIPS_PER_CONNECTION):
                    begin = time.perf_counter()
                    if time.monotonic() >= stop_at:
                        break
                    writer.write(PAYLOAD)
                    await reader.readexactly(len(PAYLOAD))
                    samples.append(time.perf_counter() - begin)
            except (OSError, asyncio.IncompleteReadError):
                failures += 1
            finally:
                _reset(writer)

        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(connections))), timeout=seconds + 60)
        return samples, failures

    out.put(asyncio.run(run()))


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST, not a FIN: no TIME_WAIT socket (and connection-tracking entry) is left behind
    for two minutes. Thousands of them, from earlier rounds, slowed every later round's loopback
    traffic and the proxied side (twice the segments) most: a benchmark must not measure its own
    leftovers."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def measure(host: str, port: int, concurrency: int, seconds: float, clients: int) -> tuple[float, list[float]]:
    """(round trips/s, sorted latencies in ms) of ``concurrency`` connections spread over client processes."""
    processes = max(1, min(clients, concurrency))
    shares = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    start_at = time.monotonic() + 1.0 + concurrency / 500
    out: mp.Queue[tuple[list[float], int]] = mp.Queue()
    procs = [mp.Process(target=_client_process, args=(host, port, n, start_at, seconds, out)) for n in shares]
    for p in procs:
        p.start()
    samples: list[float] = []
    failures = 0
    for _ in procs:
        got, failed = out.get(timeout=seconds + 120)
        samples += got
        failures += failed
    for p in procs:
        p.join(30)
    if failures:
        print(f"  warning: {failures} of {concurrency} connections failed", flush=True)
    return len(samples) / seconds, sorted(s * 1000 for s in samples)


def pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- soak ---------------------------------------------------------------------------------------

def _processes(pid: int) -> list[int]:
    """The server and its data-plane helper processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


def _rss_mib(pid: int) -> float:
    """Resident memory of the server's processes together."""
    total = 0.0
    for each in _processes(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def _fds(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{each}/fd")) for each in _processes(pid))


def _settled_fds(pid: int, within: float = 15.0) -> int:
    """Open files once the server has finished closing earlier connections (stable for 1 s)."""
    deadline = time.monotonic() + within
    last = _fds(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _fds(pid)
        if now == last:
            return now
        last = now
    return last


def soak(host: str, port: int, pid: int, seconds: float, clients: int) -> list[Figure]:
    fds_idle = _settled_fds(pid)
    result: mp.Queue[tuple[float, float, int]] = mp.Queue()

    def watch() -> None:
        time.sleep(4)  # connections established and warmed
        first = _rss_mib(pid), _fds(pid)
        time.sleep(max(0.0, seconds - 3))
        result.put((first[0], _rss_mib(pid), first[1]))

    watcher = mp.Process(target=watch)
    watcher.start()
    rate, _ = measure(host, port, 1000, seconds, clients)
    rss_start, rss_end, fds_busy = result.get(timeout=60)
    watcher.join(10)
    fds_after = _settled_fds(pid)
    print(f"soak {seconds:.0f} s at 1000 connections: {rate:,.0f} rt/s; RSS {rss_start:.1f} -> {rss_end:.1f} MiB; "
          f"open files idle {fds_idle}, busy {fds_busy}, after {fds_after}", flush=True)
    growth = Figure("soak: server RSS growth", "%", "<= 10 %", at_most(10.0))
    growth.add((rss_end - rss_start) / rss_start * 100)
    leak = Figure("soak: open files left after clients closed", "fds", "0", at_most(0))
    leak.add(fds_after - fds_idle)
    return [growth, leak]


# -- main ---------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--seconds", type=float, default=3.0, help="measurement time per side per round (max 30)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--echo-procs", type=int, default=2, help="echo upstream processes")
    parser.add_argument("--api", help="an already running Toxiproxy-API server (default: start faultdrill's)")
    parser.add_argument("--server-processes", default="auto",
                        help="faultdrill's server: its --processes (default auto, as the server's own default)")
    parser.add_argument("--upstream-host", default="127.0.0.1", help="how the server reaches this machine")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of soak at 1,000 connections (0: none)")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 0.5), 30.0)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    figures: dict[str, Figure] = {}
    for c in args.concurrency:
        figures[f"rate{c}"] = Figure(f"{c} conn: direct round trips/s", "rt/s")
        figures[f"prate{c}"] = Figure(f"{c} conn: proxied round trips/s", "rt/s")
        figures[f"ratio{c}"] = Figure(f"{c} conn: proxied/direct round trips", "x",
                                      ">= 0.5x" if c >= 1000 else "(reported)", at_least(0.5) if c >= 1000 else None)
        figures[f"p50{c}"] = Figure(f"{c} conn: added p50", "ms", "<= 0.15 ms" if c == 1 else "(reported)",
                                    at_most(0.15) if c == 1 else None)
        figures[f"p99{c}"] = Figure(f"{c} conn: added p99 / direct p99", "x",
                                    "<= 2x" if c >= 1000 else "(reported)", at_most(2.0) if c >= 1000 else None)
        figures[f"floor{c}"] = Figure(f"{c} conn: floor (minimal Python forwarder)/direct round trips", "x")
        figures[f"vsfloor{c}"] = Figure(f"{c} conn: proxied/floor round trips", "x")

    settle()
    lifetime = 120 + args.rounds * len(args.concurrency) * 3 * (seconds + 30) + args.soak
    server = compatible_server(args.server_processes) if args.api is None else _existing(args.api)
    floor_processes = _server_processes(args.server_processes) if args.api is None else 1
    with echo_upstream(args.echo_procs, lifetime) as echo_port, server as (api, pid), \
            bench_proxy(api, f"{args.upstream_host}:{echo_port}") as (proxy_host, proxy_port), \
            floor_forwarder(echo_port, floor_processes, lifetime) as floor_port:
        for r in range(args.rounds):
            for c in args.concurrency:
                sides = [("direct", "127.0.0.1", echo_port), ("proxied", proxy_host, proxy_port),
                         ("floor", "127.0.0.1", floor_port)]
                results: dict[str, tuple[float, list[float]]] = {}
                for label, host, port in sides[r % 3:] + sides[:r % 3]:  # each side first in turn
                    results[label] = measure(host, port, c, seconds, args.clients)
                (d_rate, d_lat), (p_rate, p_lat) = results["direct"], results["proxied"]
                f_rate = results["floor"][0]
                figures[f"floor{c}"].add(f_rate / d_rate if d_rate else float("nan"))
                figures[f"vsfloor{c}"].add(p_rate / f_rate if f_rate else float("nan"))
                figures[f"rate{c}"].add(d_rate)
                figures[f"prate{c}"].add(p_rate)
                figures[f"ratio{c}"].add(p_rate / d_rate if d_rate else float("nan"))
                figures[f"p50{c}"].add(pct(p_lat, 0.5) - pct(d_lat, 0.5))
                figures[f"p99{c}"].add((pct(p_lat, 0.99) - pct(d_lat, 0.99)) / pct(d_lat, 0.99))
                print(f"round {r + 1} conns {c}: direct {d_rate:,.0f} rt/s p50 {pct(d_lat, .5):.3f} "
                      f"p99 {pct(d_lat, .99):.3f} ms | proxied {p_rate:,.0f} rt/s p50 {pct(p_lat, .5):.3f} "
                      f"p99 {pct(p_lat, .99):.3f} ms | floor {f_rate:,.0f} rt/s | TIME_WAIT sockets "
                      f"{time_wait_sockets()}", flush=True)
        extra = soak(proxy_host, proxy_port, pid, args.soak, args.clients) if args.soak and pid else []
    title = (f"{len(PAYLOAD)}-byte ping-pong, {seconds:g} s per side, {args.rounds} alternating rounds, "
             f"{args.clients} client processes, server "
             f"{'at ' + args.api if args.api else f'faultdrill (--processes {args.server_processes})'}")
    return report([*figures.values(), *extra], title)


@contextmanager
def _existing(api: str) -> Iterator[tuple[str, int]]:
    yield api.rstrip("/"), 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
