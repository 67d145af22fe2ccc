"""Tiny memcached (text protocol) and Redis (RESP) clients on the standard library.

A connection per call, with timeouts: a dependency that goes away costs one failed request,
never a stuck worker.
"""

from __future__ import annotations

import socket


def _connect(addr: str, timeout: float) -> socket.socket:
    host, _, port = addr.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def _read_line(sock_file) -> bytes:
    line = sock_file.readline()
    if not line:
        raise ConnectionError("connection closed")
    return line.rstrip(b"\r\n")


class Memcached:
    def __init__(self, addr: str, timeout: float) -> None:
        self.addr, self.timeout = addr, timeout

    def get(self, key: str) -> bytes | None:
        with _connect(self.addr, self.timeout) as sock, sock.makefile("rb") as f:
            sock.sendall(f"get {key}\r\n".encode())
            header = _read_line(f)
            if header == b"END":
                return None
            size = int(header.split()[3])
            value = f.read(size + 2)[:size]
            _read_line(f)  # END
            return value

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with _connect(self.addr, self.timeout) as sock, sock.makefile("rb") as f:
            sock.sendall(f"set {key} 0 {ttl} {len(value)}\r\n".encode() + value + b"\r\n")
            if _read_line(f) != b"STORED":
                raise ConnectionError("memcached did not store the value")


class Redis:
    def __init__(self, url: str, timeout: float) -> None:
        # redis://host:port/db
        self.addr = url.split("://", 1)[-1].split("/", 1)[0]
        self.timeout = timeout

    def call(self, *args: str, timeout: float | None = None):
        with _connect(self.addr, timeout or self.timeout) as sock, sock.makefile("rb") as f:
            payload = f"*{len(args)}\r\n".encode()
            for arg in args:
                data = str(arg).encode()
                payload += f"${len(data)}\r\n".encode() + data + b"\r\n"
            sock.sendall(payload)
            return _reply(f)


def _reply(f):
    line = _read_line(f)
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else f.read(size + 2)[:size]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_reply(f) for _ in range(size)]
    raise ConnectionError(f"unexpected reply {line[:40]!r}")
