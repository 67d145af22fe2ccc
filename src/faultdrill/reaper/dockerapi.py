"""The few Docker engine calls the reaper makes: HTTP over the engine's unix socket, standard library only."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from typing import Any


class DockerError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Docker answered {status}: {message}")
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerAPI:
    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(
                {k: json.dumps(v) if isinstance(v, dict) else v for k, v in query.items()})
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        if response.status >= 400:
            try:
                message = json.loads(raw).get("message", "")
            except ValueError:
                message = raw.decode(errors="replace")[:200]
            raise DockerError(response.status, message)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    # ------------------------------------------------------------------ what the reaper needs
    def labelled(self, kind: str, label: str) -> list[dict[str, Any]]:
        """Containers (all states), networks or volumes carrying ``label`` (``key=value``)."""
        filters = {"label": [label]}
        if kind == "containers":
            return self.call("GET", "/containers/json", query={"all": 1, "filters": filters}) or []
        if kind == "networks":
            return self.call("GET", "/networks", query={"filters": filters}) or []
        return (self.call("GET", "/volumes", query={"filters": filters}) or {}).get("Volumes") or []

    def inspect(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/containers/{urllib.parse.quote(container)}/json")
        return result

    def post(self, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body if body is not None else {}, query)

    def delete(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.call("DELETE", path, query=query)

    def exec(self, container: str, cmd: list[str], env: dict[str, str] | None = None,
             wait_s: float = 30.0) -> int | None:
        """Run ``cmd`` in the container; its exit code, or None if it still runs after ``wait_s``."""
        created = self.post(f"/containers/{urllib.parse.quote(container)}/exec",
                            {"Cmd": cmd, "Env": [f"{k}={v}" for k, v in (env or {}).items()],
                             "AttachStdout": False, "AttachStderr": False})
        exec_id = created["Id"]
        self.post(f"/exec/{exec_id}/start", {"Detach": True})
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            info = self.call("GET", f"/exec/{exec_id}/json")
            if not info.get("Running"):
                code = info.get("ExitCode")
                return int(code) if code is not None else None
            time.sleep(0.1)
        return None
