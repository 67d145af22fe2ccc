"""``host:port`` parsing, resolution, binding and formatting, Go ``net`` style.

Error texts follow Go (``address bogus: missing port in address``) because the
API returns them verbatim.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["AddressError", "TcpAddress", "bind_listener", "format_sockname", "resolve", "shared_copy",
           "split_host_port"]


class AddressError(ValueError):
    """A Go-worded address error."""


@dataclass(frozen=True)
class TcpAddress:
    """A resolved TCP address; ``host`` is an IP literal or '' (wildcard)."""

    host: str
    port: int

    @property
    def family(self) -> int:
        if self.host and ":" in self.host:
            return socket.AF_INET6
        return socket.AF_INET

    def __str__(self) -> str:
        if not self.host:
            return f":{self.port}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's net.SplitHostPort."""

    def fail(reason: str) -> AddressError:
        return AddressError(f"address {hostport}: {reason}")

    last = hostport.rfind(":")
    if last < 0:
        raise fail("missing port in address")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        if end + 1 == len(hostport):
            raise fail("missing port in address")
        if end + 1 != last:
            raise fail("too many colons in address" if hostport[end + 1] == ":" else "missing port in address")
        host = hostport[1:end]
        if "[" in hostport[1:] or "]" in hostport[end + 1 :]:
            raise fail("unexpected '[' in address")
    else:
        host = hostport[:last]
        if ":" in host:
            raise fail("too many colons in address")
        if "[" in hostport or "]" in hostport:
            raise fail("unexpected '[' in address")
    return host, hostport[last + 1 :]


def _parse_port(port: str) -> int:
    if port == "":
        return 0
    if port.isdigit():
        value = int(port)
        if value > 65535:
            raise AddressError(f"address {port}: invalid port")
        return value
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        raise AddressError(f"lookup tcp/{port}: unknown port") from None


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


async def resolve(hostport: str) -> TcpAddress:
    """Go's net.ResolveTCPAddr("tcp", ...): IPv4 preferred for names; '' is ':0'."""
    if hostport == "":
        return TcpAddress("", 0)
    host, port_text = split_host_port(hostport)
    port = _parse_port(port_text)
    if host == "":
        return TcpAddress("", port)
    literal = _ip_literal(host)
    if literal is not None:
        return TcpAddress(literal, port)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise AddressError(f"lookup {host}: no such host") from None
    ipv4 = [info for info in infos if info[0] == socket.AF_INET]
    chosen = (ipv4 or infos)[0]
    return TcpAddress(str(chosen[4][0]), port)


async def bind_listener(listen: str, *, shared: bool = False) -> socket.socket:
    """Bind a listening TCP socket the way ``net.Listen("tcp", listen)`` would.

    ``shared``: the socket is the first of a ``SO_REUSEPORT`` group, which the other data-plane
    processes join with ``shared_copy`` (the kernel then spreads new connections over them). The
    address is first bound exactly as without it, so a port that is taken, by this server's other
    proxies too, fails the same way. Raises AddressError with Go's ``listen tcp ...`` wording.
    """
    try:
        address = await resolve(listen)
    except AddressError as exc:
        raise AddressError(f"listen tcp: {exc}") from None
    sock: socket.socket | None = None
    if address.host == "" and socket.has_ipv6:
        try:
            sock = _bind(socket.AF_INET6, "::", address, dual_stack=True)
        except OSError:
            pass
    try:
        if sock is None:
            sock = _bind(address.family, address.host or "0.0.0.0", address, dual_stack=False)
        return _reuse_port(sock) if shared else sock
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
        raise AddressError(f"listen tcp {address}: bind: {reason}") from None


def shared_copy(sock: socket.socket) -> socket.socket:
    """Another socket bound to ``sock``'s address in its ``SO_REUSEPORT`` group."""
    return _bind_reusing(sock.family, sock.getsockname(), _v6only(sock))


def _reuse_port(probe: socket.socket) -> socket.socket:
    """``probe``'s address, bound again with ``SO_REUSEPORT`` (the probe is closed)."""
    family, name, v6only = probe.family, probe.getsockname(), _v6only(probe)
    probe.close()
    return _bind_reusing(family, name, v6only)


def _v6only(sock: socket.socket) -> int | None:
    return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) if sock.family == socket.AF_INET6 else None


def _bind_reusing(family: int, name: tuple[Any, ...], v6only: int | None) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if v6only is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        sock.bind(name)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind(family: int, host: str, address: TcpAddress, *, dual_stack: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, address.port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def format_sockname(sock: socket.socket) -> str:
    """``127.0.0.1:1234`` / ``[::]:1234`` for a bound socket."""
    name = sock.getsockname()
    return str(TcpAddress(name[0], name[1]))
