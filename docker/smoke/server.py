"""Smoke-drill service. Standard library only.

ROLE=backend: answers GET / with a small JSON body.
ROLE=web:     answers GET / by calling BACKEND_URL (through Toxiproxy in the drill) and
              relaying the answer; 502 when the backend fails, 504 when it times out.
Both answer GET /healthz.
"""

import json
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ.get("ROLE", "backend")
PORT = int(os.environ.get("PORT", "8000"))
BACKEND_URL = os.environ.get("BACKEND_URL", "")
BACKEND_TIMEOUT_S = float(os.environ.get("BACKEND_TIMEOUT_S", "5"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:  # quiet: drills send thousands of requests
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path == "/healthz":
            self._send(200, {"ok": True, "role": ROLE})
        elif self.path == "/":
            if ROLE == "backend":
                self._send(200, {"role": "backend", "items": list(range(10))})
            else:
                self._call_backend()
        else:
            self._send(404, {"error": "not found"})

    def _call_backend(self) -> None:
        try:
            with urllib.request.urlopen(BACKEND_URL, timeout=BACKEND_TIMEOUT_S) as resp:
                self._send(200, {"role": "web", "backend": json.loads(resp.read())})
        except (socket.timeout, TimeoutError):
            self._send(504, {"error": "backend timed out"})
        except (urllib.error.URLError, ConnectionError, ValueError) as exc:
            self._send(502, {"error": f"backend failed: {exc}"})


def main() -> None:
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog of 5 drops SYNs under a burst
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{ROLE} listening on :{PORT}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
