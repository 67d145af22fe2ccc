"""Spec §5: what each toxic does to bytes on the wire.

Timing bounds are generous (a loaded 2-core CI machine): lower bounds are a few
ms under the nominal delay, upper bounds allow ~200 ms of scheduling noise.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conformance_support import (
    Api,
    ProxyHandle,
    delayed_echo,
    is_open,
    recv_all,
    recv_exactly,
    round_trip_ms,
    ticker,
    wait_eof,
)


def test_plain_proxying_round_trip(echo_proxy: ProxyHandle) -> None:
    with echo_proxy.connect() as sock:
        for size in (1, 1000, 100_000):
            payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            sock.sendall(payload)
            assert recv_exactly(sock, len(payload)) == payload


def test_no_half_close_through_proxy(make_proxy, make_upstream) -> None:
    upstream = make_upstream(delayed_echo)
    direct = socket.create_connection(("127.0.0.1", upstream.port), timeout=5)
    direct.sendall(b"hello")
    direct.shutdown(socket.SHUT_WR)
    assert recv_all(direct) == b"hello"  # the upstream itself supports half-close
    direct.close()
    proxy = make_proxy(upstream.address)
    with proxy.connect() as sock:
        sock.sendall(b"hello")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""  # the proxy closes both sides; the reply is lost


# -- latency -------------------------------------------------------------------------------


def test_latency_downstream_then_upstream_then_second_downstream(echo_proxy: ProxyHandle) -> None:
    with echo_proxy.connect() as sock:
        assert round_trip_ms(sock) < 180
        echo_proxy.add_toxic("latency", latency=200)  # applies to the existing connection
        assert 190 <= round_trip_ms(sock) <= 400
        echo_proxy.add_toxic("latency", stream="upstream", latency=100)
        assert 290 <= round_trip_ms(sock) <= 500
        echo_proxy.add_toxic("latency", name="second", latency=150)
        assert 440 <= round_trip_ms(sock) <= 700


def test_latency_is_pipelined_not_cumulative(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=300)
    with echo_proxy.connect() as sock:
        start = time.perf_counter()
        for i in range(5):
            sock.sendall(bytes([65 + i]))
            time.sleep(0.02)
        data = recv_exactly(sock, 5)
        elapsed = (time.perf_counter() - start) * 1000
    assert data == b"ABCDE"  # order preserved
    assert 370 <= elapsed <= 700  # ~80 + 300, not 5 x 300


def test_latency_jitter_spreads_round_trips(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=100, jitter=50)
    with echo_proxy.connect() as sock:
        samples = [round_trip_ms(sock) for _ in range(12)]
    assert all(45 <= s <= 350 for s in samples), samples
    assert max(samples) - min(samples) > 10, samples


def test_negative_latency_means_no_delay(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=-100)
    with echo_proxy.connect() as sock:
        assert round_trip_ms(sock) < 250


def test_removing_latency_delivers_in_flight_data(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=1500)
    with echo_proxy.connect() as sock:
        start = time.perf_counter()
        sock.sendall(b"held")
        time.sleep(0.2)
        echo_proxy.remove_toxic("latency_downstream")
        assert recv_exactly(sock, 4) == b"held"
        assert (time.perf_counter() - start) * 1000 < 1000


def test_toxicity_zero_never_applies(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=1000, toxicity=0)
    for _ in range(3):
        with echo_proxy.connect() as sock:
            assert round_trip_ms(sock) < 500


def test_toxicity_is_decided_per_connection(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=600, toxicity=0.5)  # far above a busy machine's own delays
    results: list[tuple[bool, bool]] = []
    lock = threading.Lock()

    def probe() -> None:
        with echo_proxy.connect() as sock:
            first, second = round_trip_ms(sock) > 400, round_trip_ms(sock) > 400
        with lock:
            results.append((first, second))

    threads = [threading.Thread(target=probe) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 20
    assert all(first == second for first, second in results), results  # consistent per connection
    affected = sum(first for first, _ in results)
    assert 2 <= affected <= 18, affected  # P(fail) ~ 4e-4 for a fair coin


# -- timeout -------------------------------------------------------------------------------


def test_timeout_closes_idle_connection_and_drops_data(echo_proxy: ProxyHandle, echo_upstream) -> None:
    echo_proxy.add_toxic("timeout", stream="upstream", timeout=300)
    with echo_proxy.connect() as sock:
        sock.sendall(b"dropped")
        elapsed = wait_eof(sock, 5)
    assert 0.25 <= elapsed <= 0.8
    assert b"dropped" not in echo_upstream.total_received()


def test_timeout_timer_restarts_on_each_chunk(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("timeout", stream="upstream", timeout=500)
    with echo_proxy.connect() as sock:
        for _ in range(8):  # 0.8 s of traffic, longer than the timeout
            sock.sendall(b".")
            time.sleep(0.1)
        last = time.perf_counter()
        closed_after = wait_eof(sock, 5)
    assert time.perf_counter() - last >= closed_after
    assert 0.35 <= closed_after <= 1.2


def test_timeout_counts_from_last_chunk_in_its_direction(make_proxy, make_upstream) -> None:
    upstream = make_upstream(ticker)  # one byte every 100 ms for 1 s
    proxy = make_proxy(upstream.address)
    proxy.add_toxic("timeout", timeout=300)
    with proxy.connect() as sock:
        elapsed = wait_eof(sock, 5)
    assert 1.1 <= elapsed <= 1.9  # ~0.9 s of ticks + 0.3 s


def test_timeout_zero_drops_data_but_never_closes(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("timeout", timeout=0)
    with echo_proxy.connect() as sock:
        sock.sendall(b"gone")
        assert is_open(sock, 0.5)


@pytest.mark.parametrize("toxicity", [1.0, 0.0])
def test_removing_timeout_closes_its_connections(echo_proxy: ProxyHandle, toxicity: float) -> None:
    echo_proxy.add_toxic("timeout", timeout=0, toxicity=toxicity)
    with echo_proxy.connect() as sock:
        time.sleep(0.05)
        echo_proxy.remove_toxic("timeout_downstream")
        assert wait_eof(sock, 3) < 1.0


def test_reset_removes_timeout_and_closes_its_connections(api: Api, echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("timeout", timeout=0)
    with echo_proxy.connect() as sock:
        time.sleep(0.05)
        assert api.post("/reset").status_code == 204
        assert wait_eof(sock, 3) < 1.0


# -- bandwidth -----------------------------------------------------------------------------


def test_bandwidth_caps_throughput(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("bandwidth", rate=100)  # 100 KB/s, KB = 1000 B
    payload = b"b" * 50_000
    with echo_proxy.connect() as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        elapsed = time.perf_counter() - start
    assert 0.4 <= elapsed <= 1.0


def test_bandwidth_rate_zero_stalls_until_removed(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("bandwidth", rate=0)
    with echo_proxy.connect() as sock:
        sock.sendall(b"stalled")
        sock.settimeout(0.4)
        with pytest.raises(socket.timeout):
            sock.recv(10)
        echo_proxy.remove_toxic("bandwidth_downstream")
        sock.settimeout(3)
        assert recv_exactly(sock, 7) == b"stalled"


# -- reset_peer ------------------------------------------------------------------------------


def test_reset_peer_sends_rst_on_fresh_connections(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("reset_peer", stream="upstream", timeout=300)
    with echo_proxy.connect() as sock:
        assert is_open(sock, 0.3)  # idle: nothing happens
        sock.settimeout(5)
        start = time.perf_counter()
        sock.sendall(b"trigger")
        with pytest.raises(ConnectionResetError):
            recv_all(sock)
        assert 0.25 <= time.perf_counter() - start <= 0.8


def test_reset_peer_timeout_zero_is_immediate(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("reset_peer", stream="upstream", timeout=0)
    with echo_proxy.connect() as sock:
        start = time.perf_counter()
        sock.sendall(b"trigger")
        with pytest.raises(ConnectionResetError):
            recv_all(sock)
        assert time.perf_counter() - start < 0.5


def test_reset_peer_on_existing_connection_is_a_plain_fin(echo_proxy: ProxyHandle) -> None:
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        echo_proxy.add_toxic("reset_peer", stream="upstream", timeout=0)
        sock.sendall(b"trigger")
        assert recv_all(sock) == b""  # EOF, not ECONNRESET


# -- slow_close ------------------------------------------------------------------------------


def test_slow_close_delays_the_close(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("slow_close", delay=400)
    with echo_proxy.connect() as sock:
        assert round_trip_ms(sock) < 300  # data passes unchanged
        sock.shutdown(socket.SHUT_WR)
        elapsed = wait_eof(sock, 5)
    assert 0.38 <= elapsed <= 0.9


def test_without_slow_close_the_close_is_prompt(echo_proxy: ProxyHandle) -> None:
    with echo_proxy.connect() as sock:
        sock.shutdown(socket.SHUT_WR)
        assert wait_eof(sock, 5) < 0.35


# -- slicer ----------------------------------------------------------------------------------


def test_slicer_delays_each_piece_in_microseconds(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("slicer", average_size=10, size_variation=0, delay=20_000)
    payload = bytes(range(100))
    with echo_proxy.connect() as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, 100) == payload
        elapsed = time.perf_counter() - start
    assert 0.28 <= elapsed <= 0.8  # 15 x 20 ms before the 16th piece


def test_slicer_with_variation_keeps_data_intact(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("slicer", average_size=50, size_variation=20, delay=10)
    payload = bytes(range(256)) * 40
    with echo_proxy.connect() as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


# -- limit_data --------------------------------------------------------------------------------


def test_limit_data_downstream(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("limit_data", bytes=10)
    with echo_proxy.connect() as sock:
        sock.sendall(b"0123456")
        assert recv_exactly(sock, 7) == b"0123456"
        sock.sendall(b"789abc")
        assert recv_all(sock) == b"789"


def test_limit_data_upstream(echo_proxy: ProxyHandle, echo_upstream) -> None:
    echo_proxy.add_toxic("limit_data", stream="upstream", bytes=5)
    with echo_proxy.connect() as sock:
        sock.sendall(b"abcdefgh")
        # The echo of the 5 bytes races the proxy's close of the upstream socket
        # (Toxiproxy was observed to win it); only the EOF is deterministic.
        assert recv_all(sock) in (b"abcde", b"")
    deadline = time.monotonic() + 2
    while echo_upstream.total_received() != b"abcde" and time.monotonic() < deadline:
        time.sleep(0.02)  # the upstream thread records what it read asynchronously
    assert echo_upstream.total_received() == b"abcde"


def test_limit_data_zero_waits_for_first_chunk(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("limit_data", bytes=0)
    with echo_proxy.connect() as sock:
        assert is_open(sock, 0.3)
        sock.settimeout(5)
        sock.sendall(b"x")
        assert recv_all(sock) == b""


def test_limit_data_counts_per_connection(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("limit_data", bytes=4)
    for _ in range(2):
        with echo_proxy.connect() as sock:
            sock.sendall(b"abcdef")
            assert recv_all(sock) == b"abcd"


# -- noop ----------------------------------------------------------------------------------------


def test_noop_passes_data(echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("noop")
    with echo_proxy.connect() as sock:
        assert round_trip_ms(sock, b"through") < 300
