"""Bytes arrive whole and in order: sent before the upstream is dialled, pushed faster than the
reader drains them, and while a toxic is added mid-stream (the data path switches from forwarding
to the toxic pipeline on a live connection)."""

from __future__ import annotations

import os
import threading

from conformance_support import ProxyHandle, recv_exactly

MIB = 1024 * 1024


def _pattern(size: int) -> bytes:
    block = os.urandom(4096)
    return (block * (size // len(block) + 1))[:size]


def _send_in_background(sock, data: bytes, chunk: int = 64 * 1024, pause=None) -> threading.Thread:
    def send() -> None:
        for offset in range(0, len(data), chunk):
            if pause is not None and offset == len(data) // 2:
                pause()
            sock.sendall(data[offset:offset + chunk])

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_bytes_sent_right_after_connect_arrive_whole(echo_proxy: ProxyHandle) -> None:
    payload = _pattern(256 * 1024)
    with echo_proxy.connect() as sock:
        sender = _send_in_background(sock, payload)  # no wait for the upstream dial
        assert recv_exactly(sock, len(payload)) == payload
        sender.join(10)


def test_a_slow_reader_gets_every_byte_in_order(echo_proxy: ProxyHandle) -> None:
    payload = _pattern(8 * MIB)
    with echo_proxy.connect(timeout=30) as sock:
        sender = _send_in_background(sock, payload)
        threading.Event().wait(0.5)  # let buffers fill up: the proxy must hold back, not drop
        assert recv_exactly(sock, len(payload)) == payload
        sender.join(10)


def test_a_toxic_added_mid_stream_keeps_every_byte_in_order(echo_proxy: ProxyHandle) -> None:
    payload = _pattern(4 * MIB)
    with echo_proxy.connect(timeout=30) as sock:
        sender = _send_in_background(
            sock, payload, pause=lambda: echo_proxy.add_toxic("latency", stream="upstream", latency=5))
        assert recv_exactly(sock, len(payload)) == payload
        sender.join(10)
        echo_proxy.add_toxic("latency", stream="downstream", latency=5)
        assert recv_exactly(sock, 0) == b""
        sock.sendall(b"after")
        assert recv_exactly(sock, 5) == b"after"
