"""Spec §6: what API actions do to open connections."""

from __future__ import annotations

from conformance_support import Api, ProxyHandle, round_trip_ms, wait_eof


def test_disable_closes_connections_with_fin(api: Api, echo_proxy: ProxyHandle) -> None:
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        assert api.patch(echo_proxy.path, json={"enabled": False}).status_code == 200
        assert wait_eof(sock, 3) < 1.0


def test_delete_closes_connections(api: Api, echo_proxy: ProxyHandle) -> None:
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        assert api.delete(echo_proxy.path).status_code == 204
        assert wait_eof(sock, 3) < 1.0


def test_upstream_change_closes_connections(api: Api, echo_proxy: ProxyHandle, make_upstream) -> None:
    other = make_upstream()
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        response = api.patch(echo_proxy.path, json={"upstream": other.address})
        assert response.status_code == 200
        assert wait_eof(sock, 3) < 1.0
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
    assert other.connections == 1


def test_listen_change_closes_connections_and_rebinds(api: Api, echo_proxy: ProxyHandle, target) -> None:
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        response = api.patch(echo_proxy.path, json={"listen": f"{target.proxy_host}:0"})
        assert response.status_code == 200
        assert wait_eof(sock, 3) < 1.0
    echo_proxy.data = response.json()
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)


def test_identical_update_keeps_connections(api: Api, echo_proxy: ProxyHandle) -> None:
    port = echo_proxy.port
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        response = api.patch(echo_proxy.path, json={"listen": f"localhost:{port}",
                                                    "upstream": echo_proxy.data["upstream"]})
        assert response.status_code == 200
        assert response.json()["listen"] == f"127.0.0.1:{port}"
        assert round_trip_ms(sock) < 150


def test_toxic_changes_keep_connections(echo_proxy: ProxyHandle, api: Api) -> None:
    with echo_proxy.connect() as sock:
        round_trip_ms(sock)
        echo_proxy.add_toxic("latency", latency=100)
        assert round_trip_ms(sock) >= 95
        api.patch(f"{echo_proxy.path}/toxics/latency_downstream", json={"attributes": {"latency": 200}})
        assert 190 <= round_trip_ms(sock) <= 400  # update applies to the open connection
        echo_proxy.remove_toxic("latency_downstream")
        assert round_trip_ms(sock) < 150


def test_many_connections_and_toxic_changes(echo_proxy: ProxyHandle) -> None:
    sockets = [echo_proxy.connect() for _ in range(20)]
    try:
        for sock in sockets:
            round_trip_ms(sock)
        echo_proxy.add_toxic("latency", latency=50)
        echo_proxy.add_toxic("noop", stream="upstream")
        echo_proxy.remove_toxic("noop_upstream")
        for sock in sockets:
            assert round_trip_ms(sock) >= 45
        echo_proxy.remove_toxic("latency_downstream")
        for sock in sockets:
            assert round_trip_ms(sock) < 150
    finally:
        for sock in sockets:
            sock.close()
