"""The harness side of the reaper: its image, starting it beside the stack, the live connection, and
bringing its record home.

The reaper (``faultdrill.reaper``) is started in the background as the run begins, so it is off the
run's critical path. The harness keeps one TCP connection to it (published on 127.0.0.1), sends the
stack's addresses and every fault-journal line as it is written, and ``done`` at the end. If the harness
dies, the connection drops without ``done`` and the reaper heals and removes the run after its grace.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from docker import DockerClient
from faultdrill.errors import UsageError
from faultdrill.reaper import protocol
from faultdrill.reaper import record as records
from faultdrill.stack import images, labels

Log = Callable[[str], None]
CONNECT_TIMEOUT_S = 20.0  # from `docker run` to the reaper's greeting
BYE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ReaperConfig:
    enabled: bool
    grace_s: float

    @classmethod
    def resolve(cls, enabled: bool, grace_s: float) -> ReaperConfig:
        """The scenario's ``reaper:`` section, overridden by FAULTDRILL_REAPER=off / FAULTDRILL_REAPER_GRACE."""
        if os.environ.get(protocol.ENV_SWITCH, "").lower() in ("off", "0", "false", "no"):
            enabled = False
        grace = os.environ.get(protocol.ENV_GRACE, "").strip()
        if grace:
            try:
                grace_s = float(grace.removesuffix("s"))
            except ValueError:
                grace_s = -1.0
            if not 0 <= grace_s <= 300:
                raise UsageError(f"{protocol.ENV_GRACE}={grace!r} is not a grace period (seconds, 0 to 300)",
                                 hint=f"e.g. {protocol.ENV_GRACE}=3, or unset it to use the scenario's reaper.grace")
        return cls(enabled, grace_s)


# --------------------------------------------------------------------------- image
def ensure_image(client: DockerClient, log: Log = lambda _m: None) -> str:
    """``faultdrill/reaper:<content hash>`` built FROM the base image (a COPY of the reaper package)."""
    package = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="faultdrill-") as tmp:
        ctx = Path(tmp) / "reaper"  # the tag's name: faultdrill/reaper
        target = ctx / "faultdrill"
        shutil.copytree(package / "reaper", target / "reaper",
                        ignore=shutil.ignore_patterns("__pycache__", "Dockerfile"))
        shutil.copy(package / "__init__.py", target / "__init__.py")
        shutil.copy(package / "reaper" / "Dockerfile", ctx / "Dockerfile")
        return images.ensure_built(client, ctx, log)


def engine_is_local(client: DockerClient) -> bool:
    """Does the engine see this host's files (a unix socket)? Else the record goes to a volume."""
    if os.environ.get("FAULTDRILL_REAPER_RECORD") == "volume":
        return False
    return "localhost" in str(client.api.base_url) and not os.environ.get("DOCKER_HOST", "").startswith("tcp")


# --------------------------------------------------------------------------- the live link
class ReaperLink:
    """Starts the reaper in a background thread and keeps the connection to it."""

    def __init__(self, client: DockerClient, run_id: str, run_dir: Path, config: ReaperConfig, started_wall: float,
                 log: Log = lambda _m: None) -> None:
        self.client = client
        self.run_id = run_id
        self.run_dir = run_dir
        self.config = config
        self.log = log
        self.name = protocol.container_name(run_id)
        self.error: str | None = None
        self.start_seconds: float | None = None
        self.local = engine_is_local(client)
        self._lock = threading.Lock()
        self._queue: list[bytes] = [protocol.encode({"type": "hello", "run_id": run_id,
                                                     "started_wall": started_wall})]
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._start, name="reaper-start", daemon=True)

    def start(self) -> ReaperLink:
        self._thread.start()
        return self

    def describe(self) -> dict[str, Any]:
        return {"container": self.name, "grace_s": self.config.grace_s,
                "record": "run directory" if self.local else f"volume {protocol.record_volume(self.run_id)}",
                "start_s": self.start_seconds, "error": self.error}

    # ------------------------------------------------------------------ start (background)
    def _start(self) -> None:
        t0 = time.monotonic()
        try:
            image = ensure_image(self.client, self.log)
            port = _free_port()
            self._run(image, port)
            sock = _connect(port, CONNECT_TIMEOUT_S)
            with self._lock:
                for message in self._queue:
                    sock.sendall(message)
                self._queue.clear()
                self._sock = sock
            self.start_seconds = round(time.monotonic() - t0, 3)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {getattr(exc, 'explanation', None) or exc}"
            self.log(f"warning: the reaper could not start ({self.error}); if this run is killed, "
                     "`faultdrill clean` removes what it leaves")

    def _run(self, image: str, port: int) -> None:
        volumes = {engine_socket(): {"bind": protocol.DOCKER_SOCKET, "mode": "rw"}}
        if self.local:
            volumes[str(self.run_dir.resolve())] = {"bind": protocol.RECORD_DIR, "mode": "rw"}
        else:
            volume = self.client.volumes.create(protocol.record_volume(self.run_id),
                                                labels={protocol.RECORD_LABEL: self.run_id})
            volumes[volume.name] = {"bind": protocol.RECORD_DIR, "mode": "rw"}
        self.client.containers.run(
            image, name=self.name, detach=True, auto_remove=True,
            environment={protocol.ENV_RUN: self.run_id, protocol.ENV_SELF: self.name,
                         protocol.ENV_GRACE: str(self.config.grace_s)},
            labels=labels.run_labels(self.run_id, protocol.ROLE),
            ports={f"{protocol.PORT}/tcp": ("127.0.0.1", port)}, volumes=volumes, mem_limit="64m",
            **_same_user())

    # ------------------------------------------------------------------ messages
    def send(self, message: dict[str, Any]) -> None:
        data = protocol.encode(message)
        with self._lock:
            if self._sock is None:
                self._queue.append(data)
                return
            try:
                self._sock.sendall(data)
            except OSError as exc:
                self.error = self.error or f"the connection to the reaper broke: {exc}"

    def clock_started(self, t0_wall: float) -> None:
        self.send({"type": "clock", "t0_wall": t0_wall})

    def journal(self, entry: dict[str, Any]) -> None:
        self.send({"type": "journal", "entry": entry})

    def stack_up(self, network: str, toxiproxy_api: str, toxiproxy_alias: str, api_port: int = 8474) -> None:
        self.send({"type": "stack", "network": network, "toxiproxy_api": toxiproxy_api,
                   "toxiproxy_internal": f"http://{toxiproxy_alias}:{api_port}" if toxiproxy_api else None})

    def finish(self) -> None:
        """The run cleaned up after itself: tell the reaper, let it go, make sure its container is gone."""
        self._thread.join(timeout=CONNECT_TIMEOUT_S + 30)
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.sendall(protocol.encode({"type": "done"}))
                sock.settimeout(BYE_TIMEOUT_S)
                sock.recv(256)  # "bye", or EOF
            except OSError:
                pass
            finally:
                sock.close()
        try:
            self.client.containers.get(self.name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "in progress" not in str(exc):  # auto-removal already under way
                self.error = self.error or f"could not remove the reaper container: {exc}"
        if not self.local:
            try:
                self.client.volumes.get(protocol.record_volume(self.run_id)).remove(force=True)
            except docker.errors.DockerException:
                pass


def engine_socket() -> str:
    """The engine's socket as the engine host sees it: DOCKER_HOST's unix path (rootless, Docker Desktop),
    else the default (also on a remote engine: the socket of the host the reaper runs on)."""
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _same_user() -> dict[str, Any]:
    """Files the reaper writes into the run directory belong to whoever runs the harness."""
    if os.getuid() == 0:
        return {}
    extra: dict[str, Any] = {"user": f"{os.getuid()}:{os.getgid()}"}
    try:
        extra["group_add"] = [str(os.stat(engine_socket()).st_gid)]
    except OSError:
        pass
    return extra


def _connect(port: int, timeout: float) -> socket.socket:
    """Connect and wait for the greeting (Docker's port proxy accepts before the reaper listens)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        except OSError as exc:
            last = exc
            time.sleep(0.05)
            continue
        try:
            greeting = sock.makefile("rb").readline()
            if protocol.decode(greeting) == {"type": protocol.READY}:
                sock.settimeout(None)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                return sock
            last = ConnectionError("no greeting")
        except OSError as exc:
            last = exc
        sock.close()
        time.sleep(0.05)
    raise TimeoutError(f"the reaper did not answer on 127.0.0.1:{port} within {timeout:g} s ({last})")


# --------------------------------------------------------------------------- later: clean / run
def live_reapers(client: DockerClient) -> set[str]:
    """Run ids whose reaper is still running (waiting, in its grace period, or reaping)."""
    found = client.containers.list(filters={"label": [f"{labels.ROLE}={protocol.ROLE}"], "status": "running"})
    return {c.labels.get(labels.RUN, "") for c in found} - {""}


def wait_for_reapers(client: DockerClient, run_ids: set[str], timeout: float) -> set[str]:
    """Wait until none of ``run_ids`` has a live reaper (bounded); the ones still alive."""
    deadline = time.monotonic() + timeout
    alive = live_reapers(client) & run_ids
    while alive and time.monotonic() < deadline:
        time.sleep(0.3)
        alive = live_reapers(client) & run_ids
    return alive


def absorb_records(client: DockerClient, results: Path, log: Log = lambda _m: None) -> list[str]:
    """Copy records a reaper left in a volume (remote engine) into their run directories; their lines."""
    lines: list[str] = []
    alive = live_reapers(client)
    for volume in client.volumes.list(filters={"label": protocol.RECORD_LABEL}):
        run_id = (volume.attrs.get("Labels") or {}).get(protocol.RECORD_LABEL, "")
        run_dir = results / run_id
        if not run_id or run_id in alive or not run_dir.is_dir():
            continue
        record = _read_volume_record(client, volume.name)
        if record is not None:
            records.write(run_dir, record)
            records.apply_record(run_dir, record)
            lines.append(f"{run_id}: {record.get('summary')}")
        try:
            volume.remove(force=True)
        except docker.errors.DockerException as exc:
            log(f"could not remove {volume.name}: {exc}")
    return lines


def _read_volume_record(client: DockerClient, volume: str) -> dict[str, Any] | None:
    container = client.containers.create(images.BASE_TAG, command=["true"],
                                         volumes={volume: {"bind": protocol.RECORD_DIR, "mode": "ro"}})
    try:
        stream, _ = container.get_archive(f"{protocol.RECORD_DIR}/{protocol.RECORD_FILE}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmembers()[0]
            handle = tar.extractfile(member)
            return json.loads(handle.read()) if handle else None
    except (docker.errors.NotFound, ValueError, IndexError):
        return None
    finally:
        container.remove(force=True)


def reaped_summary(run_dir: Path) -> str | None:
    try:
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    reaped = run.get("reaped") or {}
    return reaped.get("summary")
