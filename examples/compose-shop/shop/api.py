"""The shop's HTTP API: product pages read through a cache, orders go onto a queue for the worker.

GET  /                 a few products (cache-aside)
GET  /products/<id>    one product (cache-aside: memcached, then the "catalogue")
POST /orders           enqueue an order (Redis list); 503 when the queue is unreachable
GET  /orders/stats     how many orders were enqueued and processed
GET  /healthz          200
"""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clients import Memcached, Redis

CACHE = Memcached(os.environ.get("CACHE_ADDR", "cache:11211"), float(os.environ.get("CACHE_TIMEOUT_S", "2")))
QUEUE = Redis(os.environ.get("QUEUE_URL", "redis://queue:6379/0"), float(os.environ.get("QUEUE_TIMEOUT_S", "1")))
CACHE_TTL = int(os.environ.get("CACHE_TTL_S", "30"))
CATALOGUE_DELAY_S = float(os.environ.get("CATALOGUE_DELAY_S", "0.02"))


def product(pid: int) -> dict:
    key = f"product:{pid}"
    try:
        cached = CACHE.get(key)
    except OSError:
        cached = None  # cache down: fall back to the catalogue
    if cached is not None:
        return json.loads(cached)
    time.sleep(CATALOGUE_DELAY_S)  # the slow path the cache is there to avoid
    item = {"id": pid, "name": f"product {pid}", "price_cents": 100 + pid * 7}
    try:
        CACHE.set(key, json.dumps(item).encode(), CACHE_TTL)
    except OSError:
        pass
    return item


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/healthz":
            self._send(200, {"ok": True})
        elif path == "/":
            self._send(200, {"products": [product(i) for i in range(1, 4)]})
        elif path.startswith("/products/") and path.rsplit("/", 1)[1].isdigit():
            self._send(200, product(int(path.rsplit("/", 1)[1])))
        elif path == "/orders/stats":
            try:
                done = QUEUE.call("GET", "orders:done")
                waiting = QUEUE.call("LLEN", "orders")
            except (OSError, RuntimeError) as exc:
                self._send(503, {"error": f"queue unavailable: {exc}"})
                return
            self._send(200, {"processed": int(done or 0), "waiting": waiting})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"{}"
        if self.path != "/orders":
            self._send(404, {"error": "not found"})
            return
        try:
            QUEUE.call("LPUSH", "orders", body.decode("utf-8", "replace"))
        except (OSError, RuntimeError) as exc:
            self._send(503, {"error": f"queue unavailable: {exc}"})
            return
        self._send(201, {"queued": True})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = True
    server.serve_forever()
