"""``connections.csv``: TCP connections per container by state, inbound per listening port vs outbound per peer.

Read from each container's own network namespace, from the host: netlink sock_diag from a socket
opened in that netns (``sockdiag``), else ``/proc/<pid>/net/tcp{,6}`` of its main process (parsed by
``faultdrill.stack.netns``), else — a remote engine, or a pid that is not the container's —
``docker exec cat``. Nothing runs in the image.

A socket whose local port is a listening port (or a port the scenario declares) is *inbound*, and its
``endpoint`` is that port. Every other socket is *outbound*, and its ``endpoint`` names the peer: the
service name when the peer IP belongs to a container of this run (``proxy.<name>`` for a Toxiproxy
listen port, as in ``${proxy.<name>}``), else ``ip:port``.

Zero rows keep curves continuous: every listening port gets an ``ESTABLISHED`` row (0 when idle),
and any (direction, endpoint, state) reported before is reported as 0 once it is gone.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, cast

from docker.models.containers import Container
from docker.models.networks import Network

from faultdrill.recorder.samplers import sockdiag
from faultdrill.stack.engine import host_reads_ok
from faultdrill.stack.netns import Socket, is_docker_dns, parse_proc_net_tcp, printable_ip

COLUMNS = ["service", "direction", "endpoint", "state", "count"]
Key = tuple[str, str, str]  # direction, endpoint, state
PeerName = Callable[[str, int], str]


# --------------------------------------------------------------------------- pure
def peer_ip(raw: str) -> str:
    """A remote address as parsed by netns -> printable IP (IPv4-mapped IPv6 becomes IPv4)."""
    return printable_ip(raw)


def connection_rows(service: str, sockets: Iterable[Socket], peer_name: PeerName,
                    declared_ports: Iterable[int] = (), seen: set[Key] | None = None) -> list[dict[str, object]]:
    """Rows for one container at one instant. ``seen`` (updated in place) carries keys reported before.

    Sockets of Docker's embedded DNS server (127.0.0.11, in every container of a user network) are the
    engine's, not the service's: they are neither a listening port nor inbound connections.
    """
    sockets = [s for s in sockets if not is_docker_dns(s)]
    listening = {s.local_port for s in sockets if s.state == "LISTEN"} | set(declared_ports)
    counts: Counter[Key] = Counter()
    for s in sockets:
        if s.state == "LISTEN":
            continue
        if s.local_port in listening:
            counts[("inbound", str(s.local_port), s.state)] += 1
        else:
            counts[("outbound", peer_name(peer_ip(s.remote_ip), s.remote_port), s.state)] += 1
    keys = set(counts) | {("inbound", str(port), "ESTABLISHED") for port in listening}
    if seen is not None:
        keys |= seen
        seen |= keys
    return [{"service": service, "direction": d, "endpoint": e, "state": st, "count": counts.get((d, e, st), 0)}
            for d, e, st in sorted(keys, key=_order)]


def _order(key: Key) -> tuple[bool, int, str, str]:
    direction, endpoint, state = key
    return (direction != "inbound", int(endpoint) if endpoint.isdigit() else 0, endpoint, state)


def address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --------------------------------------------------------------------------- peers
class PeerDirectory:
    """IP -> service name for the containers of this run, from the network's container attrs.

    Refreshed when an unknown IP shows up (a restarted container may get a new one), at most every
    ``refresh_every`` seconds. Shared by every connections sampler of a run; thread-safe.
    """

    def __init__(self, network: Network | None, names_by_id: dict[str, str], proxy_ports: dict[str, int],
                 toxiproxy_name: str = "toxiproxy", refresh_every: float = 2.0) -> None:
        self.network = network
        self.names_by_id = names_by_id
        self.proxy_by_port = {port: name for name, port in proxy_ports.items()}
        self.toxiproxy_name = toxiproxy_name
        self.refresh_every = refresh_every
        self._by_ip: dict[str, str] = {}
        self._refreshed = float("-inf")
        self._lock = threading.Lock()

    def name(self, ip: str, port: int) -> str:
        service = self._by_ip.get(ip)
        if service is None and self.network is not None:
            self._refresh()
            service = self._by_ip.get(ip)
        if service is None:
            return address(ip, port)
        if service == self.toxiproxy_name and port in self.proxy_by_port:
            return f"proxy.{self.proxy_by_port[port]}"
        return service

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._refreshed < self.refresh_every:
                return
            self._refreshed = time.monotonic()
            assert self.network is not None
            self.network.reload()
            self._by_ip = ips_by_service(self.network.attrs, self.names_by_id)


def ips_by_service(network_attrs: dict[str, Any], names_by_id: dict[str, str]) -> dict[str, str]:
    """Pure: the ``Containers`` section of a network's attrs -> {ip: service name}."""
    out: dict[str, str] = {}
    for cid, entry in (network_attrs.get("Containers") or {}).items():
        name = names_by_id.get(cid)
        if name is None:
            continue
        for key in ("IPv4Address", "IPv6Address"):
            ip = (entry.get(key) or "").split("/")[0]
            if ip:
                out[ip] = name
    return out


# --------------------------------------------------------------------------- reading a netns
class NetnsReader:
    """A container's TCP sockets, read from the host without an agent in the image.

    In order of preference: netlink sock_diag from a socket opened in the container's netns (one
    kernel walk for IPv4 and IPv6, see ``sockdiag``; needs CAP_SYS_ADMIN), ``/proc/<pid>/net/tcp{,6}``
    (two walks), ``docker exec cat`` (a remote engine, or a pid that is not this container's: it is
    checked against the container id in ``/proc/<pid>/cgroup``). The netns inode is checked on every
    read, so a restarted container (new pid, new netns) is followed instead of read as empty. A
    container that is not running (not started yet, stopped by a fault) has no sockets: read as none.
    """

    def __init__(self, container: Container) -> None:
        self.container = container
        self.via = ""  # "sock_diag" | "proc" | "exec" | "not running": how the last read was made
        self._pid = 0
        self._ns_ino: int | None = None  # the netns checked to be this container's, for self._pid
        self._diag: socket.socket | None = None
        self._diag_ok = True  # False once sock_diag was refused: do not try again
        self._host = host_reads_ok(getattr(container, "client", None))  # False: a remote engine, exec only

    def sockets(self) -> list[Socket]:
        if not self._pid:
            self._pid = self._current_pid()
        sockets = self._from_host(self._pid)
        if sockets is None:
            self._pid = self._current_pid()  # restarted? then the pid changed
            sockets = self._from_host(self._pid)
        if sockets is None and not self._running():
            self.via = "not running"  # a container not started yet, or stopped by a fault: no sockets
            return []
        if sockets is None:
            sockets = self._from_exec()
        return sockets

    def _running(self) -> bool:
        return bool((self.container.attrs.get("State") or {}).get("Running", True))

    def close(self) -> None:
        self._close_diag()

    def _current_pid(self) -> int:
        self.container.reload()
        pid = int(self.container.attrs.get("State", {}).get("Pid") or 0)
        if pid != self._pid:
            self._ns_ino = None
            self._close_diag()
        return pid

    def _owned(self, pid: int) -> bool:
        """Is ``pid`` still the process of this container, in the netns we checked?"""
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
            if self._ns_ino is None:
                # a remote engine's pid may be some unrelated local process: only trust our own container's
                with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
                    if str(self.container.id) not in fh.read():
                        return False
                self._ns_ino = ino
        except OSError:
            return False
        return ino == self._ns_ino

    def _from_host(self, pid: int) -> list[Socket] | None:
        if not self._host or not pid or not self._owned(pid):
            return None
        if self._diag_ok:
            try:
                if self._diag is None:
                    self._diag = sockdiag.open_diag_socket(pid)
                sockets = sockdiag.dump(self._diag)
            except PermissionError:
                self._diag_ok = False  # not root: /proc from now on
                self._close_diag()
            except OSError:
                self._close_diag()  # reopened next time
            else:
                self.via = "sock_diag"
                return sockets
        return self._from_proc(pid)

    def _from_proc(self, pid: int) -> list[Socket] | None:
        texts = []
        try:
            for name in ("tcp", "tcp6"):
                # one read: every read() call is another walk of the kernel's whole TCP hash
                fd = os.open(f"/proc/{pid}/net/{name}", os.O_RDONLY)
                try:
                    texts.append(os.read(fd, 1 << 22).decode("ascii", "replace"))
                finally:
                    os.close(fd)
        except OSError:
            return None
        self.via = "proc"
        return [s for text in texts for s in parse_proc_net_tcp(text)]

    def _from_exec(self) -> list[Socket]:
        result = self.container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], demux=False)
        text = cast(bytes, result.output or b"").decode("ascii", "replace")
        if result.exit_code != 0 and "local_address" not in text:  # tcp6 may be missing: tcp alone is fine
            raise RuntimeError(f"cannot read the TCP table with docker exec cat (exit {result.exit_code}): "
                               f"{text.strip()[:200]}")
        self.via = "exec"
        return parse_proc_net_tcp(text)

    def _close_diag(self) -> None:
        if self._diag is not None:
            self._diag.close()
            self._diag = None


# --------------------------------------------------------------------------- the sampler
class ConnectionsSampler:
    name = "connections"
    columns = COLUMNS

    def __init__(self, service: str, container: Container, peers: PeerDirectory | PeerName,
                 declared_ports: Iterable[int] = ()) -> None:
        self.service = service
        self.label = f"connections[{service}]"
        self.reader = NetnsReader(container)
        self.peer_name: PeerName = peers.name if isinstance(peers, PeerDirectory) else peers
        self.declared_ports = tuple(declared_ports)
        self._seen: set[Key] = set()

    def sample(self) -> list[dict[str, object]]:
        return connection_rows(self.service, self.reader.sockets(), self.peer_name, self.declared_ports,
                               self._seen)

    def close(self) -> None:
        self.reader.close()
