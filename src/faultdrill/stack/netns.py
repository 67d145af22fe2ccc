"""Reading a container's own TCP table, from the host, without an agent in the image.

``/proc/<pid>/net/tcp`` of a container's main process shows the sockets of that
container's network namespace. Where the engine is remote (no such /proc), the
same file is read with ``docker exec cat``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import cast

from docker.models.containers import Container

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}


DOCKER_DNS_IP = "127.0.0.11"  # Docker's embedded DNS server, in every container on a user network


@dataclass(frozen=True)
class Socket:
    local_port: int
    remote_ip: str
    remote_port: int
    state: str
    local_ip: str = ""  # as parsed: dotted IPv4, or IPv6 (tcp6's 32 hex digits from /proc, printable from netlink)


def parse_proc_net_tcp(text: str) -> list[Socket]:
    """Parse the text of /proc/net/tcp or tcp6 (pure)."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].rstrip(":").isdigit():
            continue  # header lines (there is one per file when tcp and tcp6 are concatenated)
        local, remote, state = fields[1], fields[2], fields[3]
        lip, lport = local.rsplit(":", 1)
        rip, rport = remote.rsplit(":", 1)
        sockets.append(Socket(int(lport, 16), _ip(rip), int(rport, 16), TCP_STATES.get(state.upper(), state),
                              _ip(lip)))
    return sockets


def _ip(hex_ip: str) -> str:
    if len(hex_ip) == 8:
        return ".".join(str(int(hex_ip[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return hex_ip  # IPv6: kept as hex; only used for grouping


def read_sockets(container: Container) -> list[Socket]:
    from faultdrill.stack.engine import host_reads_ok

    pid = (container.attrs.get("State", {}).get("Pid") or 0) if host_reads_ok(getattr(container, "client", None)) else 0
    texts: list[str] = []
    if pid:
        try:
            for name in ("tcp", "tcp6"):
                with open(f"/proc/{pid}/net/{name}", encoding="ascii") as fh:
                    texts.append(fh.read())
        except OSError:
            texts = []
    if not texts:
        result = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], demux=False)
        texts = [cast(bytes, result.output).decode("ascii", "replace")] if result.exit_code == 0 else []
    sockets: list[Socket] = []
    for text in texts:
        sockets += parse_proc_net_tcp(text)
    return sockets


def printable_ip(raw: str) -> str:
    """An address as parsed here (dotted IPv4, or the 32-hex-digit tcp6 form) -> printable IP.

    IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``, what a dual-stack socket shows) become IPv4.
    """
    if len(raw) != 32:
        return raw
    try:
        # /proc/net/tcp6: four 32-bit words, each in host (little-endian) byte order
        packed = b"".join(bytes.fromhex(raw[i:i + 8])[::-1] for i in range(0, 32, 8))
        addr = ipaddress.IPv6Address(packed)
    except ValueError:
        return raw
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else str(addr)


def is_docker_dns(sock: Socket) -> bool:
    """A socket of Docker's embedded DNS server (a random TCP port on 127.0.0.11): the engine's, not the app's."""
    return printable_ip(sock.local_ip) == DOCKER_DNS_IP


def listening_ports(sockets: list[Socket]) -> set[int]:
    return {s.local_port for s in sockets if s.state == "LISTEN" and not is_docker_dns(s)}
