"""Benchmark faultdrill's Toxiproxy-compatible server against a direct connection.

Run by hand:  .venv/bin/python bench/toxiproxy_bench.py [--seconds 3] [--concurrency 1 1000]

Everything stays on 127.0.0.1.  An asyncio echo upstream and the proxy (the
in-process ``ToxiproxyServer``, its own thread/loop) are started here; clients
run in a separate process so the proxy's loop is not sharing a GIL with them.
Each measurement is bounded both by a request count and by wall time.

Prints p50/p99 round-trip latency (64-byte ping-pong) and throughput
(round trips/s) for direct vs proxied, and the added latency.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faultdrill.toxiproxy_server import ToxiproxyServer  # noqa: E402

PAYLOAD = b"x" * 64
MAX_ROUND_TRIPS_PER_CONNECTION = 100_000


@dataclass
class Result:
    label: str
    concurrency: int
    samples: list[float]
    elapsed: float

    @property
    def count(self) -> int:
        return len(self.samples)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _run_upstream(port_queue: "mp.Queue[int]", stop: "mp.Event", lifetime: float) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_echo, "127.0.0.1", 0, backlog=4096)
        port_queue.put(server.sockets[0].getsockname()[1])
        deadline = time.monotonic() + lifetime
        while not stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        server.close()

    asyncio.run(main())


def _measure(port: int, concurrency: int, seconds: float, out: "mp.Queue[tuple[list[float], float]]") -> None:
    async def bounded() -> None:
        samples: list[float] = []
        gate = asyncio.Event()
        deadline_box = [0.0]

        async def client() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await gate.wait()
            try:
                for _ in range(MAX_ROUND_TRIPS_PER_CONNECTION):
                    if time.perf_counter() >= deadline_box[0]:
                        break
                    begin = time.perf_counter()
                    writer.write(PAYLOAD)
                    await reader.readexactly(len(PAYLOAD))
                    samples.append(time.perf_counter() - begin)
            finally:
                writer.close()

        tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
        await asyncio.sleep(0.5 + concurrency / 1000)
        start = time.perf_counter()
        deadline_box[0] = start + seconds
        gate.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 60)
        out.put((samples, time.perf_counter() - start))

    asyncio.run(bounded())


def measure(label: str, port: int, concurrency: int, seconds: float) -> Result:
    out: "mp.Queue[tuple[list[float], float]]" = mp.Queue()
    process = mp.Process(target=_measure, args=(port, concurrency, seconds, out))
    process.start()
    samples, elapsed = out.get(timeout=seconds + 120)
    process.join(30)
    return Result(label, concurrency, samples, elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measurement time per row (max 30)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 1000])
    args = parser.parse_args()
    seconds = min(max(args.seconds, 0.5), 30.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    ports: "mp.Queue[int]" = mp.Queue()
    stop = mp.Event()
    lifetime = 60 + len(args.concurrency) * 2 * (seconds + 30)
    upstream = mp.Process(target=_run_upstream, args=(ports, stop, lifetime))
    upstream.start()
    try:
        upstream_port = ports.get(timeout=10)
        with ToxiproxyServer("127.0.0.1", 0) as server:
            import json
            import urllib.request

            request = urllib.request.Request(
                server.api_url + "/proxies", method="POST",
                data=json.dumps({"name": "bench", "listen": "127.0.0.1:0",
                                 "upstream": f"127.0.0.1:{upstream_port}"}).encode(),
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                proxy_port = int(json.load(response)["listen"].rsplit(":", 1)[1])
            rows: list[tuple[Result, Result]] = []
            for concurrency in args.concurrency:
                direct = measure("direct", upstream_port, concurrency, seconds)
                proxied = measure("proxied", proxy_port, concurrency, seconds)
                rows.append((direct, proxied))
    finally:
        stop.set()
        upstream.join(10)
        if upstream.is_alive():
            upstream.terminate()

    print(f"\n64-byte ping-pong over 127.0.0.1, {seconds:.0f} s per row, python {sys.version.split()[0]}")
    header = f"{'conns':>6} {'path':>8} {'round trips':>12} {'rt/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8}"
    print(header)
    print("-" * len(header))
    for direct, proxied in rows:
        for result in (direct, proxied):
            added50 = proxied.percentile(0.5) - direct.percentile(0.5) if result is proxied else 0.0
            added99 = proxied.percentile(0.99) - direct.percentile(0.99) if result is proxied else 0.0
            extra = f"{added50:8.3f} {added99:8.3f}" if result is proxied else f"{'':>8} {'':>8}"
            print(f"{result.concurrency:>6} {result.label:>8} {result.count:>12} "
                  f"{result.count / result.elapsed:>9.0f} {result.percentile(0.5):>8.3f} "
                  f"{result.percentile(0.99):>8.3f} {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
