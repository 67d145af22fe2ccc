"""Spec §2.1-2.5 and §3: the proxy endpoints and the proxy object."""

from __future__ import annotations

import socket

import pytest
from conformance_support import Api, ProxyHandle, recv_all, unique_name

PROXY_KEYS = ["name", "listen", "upstream", "enabled", "Logger", "toxics"]


def test_list_is_empty_object(api: Api) -> None:
    response = api.get("/proxies")
    assert response.status_code == 200
    assert response.content == b"{}"


def test_create_returns_201_with_bound_listen_and_key_order(api: Api, target, echo_upstream) -> None:
    name = unique_name()
    response = api.post("/proxies", json={"name": name, "listen": f"{target.proxy_host}:0",
                                          "upstream": echo_upstream.address})
    assert response.status_code == 201
    body = response.json()
    # "Logger":{} is a Go artefact of Toxiproxy's Proxy struct; we emit it too, so it is asserted.
    assert list(body) == PROXY_KEYS
    assert body["Logger"] == {}
    assert body["name"] == name
    assert body["upstream"] == echo_upstream.address
    assert body["enabled"] is True
    assert body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == target.proxy_host and int(port) > 0


def test_localhost_listen_is_reported_resolved(api: Api, echo_upstream) -> None:
    response = api.post("/proxies", json={"name": unique_name(), "listen": "localhost:0",
                                          "upstream": echo_upstream.address})
    assert response.status_code == 201
    assert response.json()["listen"].startswith("127.0.0.1:")


@pytest.mark.parametrize("listen", ["localhost:0", "", "nonsense"])
def test_disabled_create_echoes_listen_and_does_not_bind(api: Api, listen: str) -> None:
    name = unique_name()
    response = api.post("/proxies", json={"name": name, "listen": listen, "upstream": "127.0.0.1:1",
                                          "enabled": False})
    assert response.status_code == 201
    assert response.json()["listen"] == listen
    assert response.json()["enabled"] is False
    assert api.get(f"/proxies/{name}").json()["listen"] == listen


@pytest.mark.parametrize(
    "body,message",
    [({"listen": "127.0.0.1:0", "upstream": "x:1"}, "missing required field: name"),
     ({"name": "", "upstream": "x:1"}, "missing required field: name"),
     ({"name": "a", "listen": "127.0.0.1:0"}, "missing required field: upstream"),
     ({}, "missing required field: name"),
     ({"name": "a", "upstream": ""}, "missing required field: upstream")],
)
def test_create_missing_fields(api: Api, body: dict, message: str) -> None:
    response = api.post("/proxies", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": message, "status": 400}


def test_create_ignores_toxics_and_unknown_fields(api: Api, echo_upstream) -> None:
    response = api.post("/proxies", json={"name": unique_name(), "listen": "127.0.0.1:0",
                                          "upstream": echo_upstream.address,
                                          "toxics": [{"type": "latency"}], "colour": "red"})
    assert response.status_code == 201
    assert response.json()["toxics"] == []


def test_duplicate_name_is_409_before_binding(api: Api, echo_proxy: ProxyHandle) -> None:
    response = api.post("/proxies", json={"name": echo_proxy.name, "listen": echo_proxy.data["listen"],
                                          "upstream": "127.0.0.1:1"})
    assert response.status_code == 409
    assert response.json() == {"error": "proxy already exists", "status": 409}


def test_port_in_use_is_500_and_nothing_created(api: Api, echo_proxy: ProxyHandle) -> None:
    name = unique_name()
    listen = echo_proxy.data["listen"]
    response = api.post("/proxies", json={"name": name, "listen": listen, "upstream": "127.0.0.1:1"})
    assert response.status_code == 500
    assert response.json() == {"error": f"listen tcp {listen}: bind: address already in use", "status": 500}
    assert api.get(f"/proxies/{name}").status_code == 404


def test_bad_listen_address_is_500(api: Api) -> None:
    response = api.post("/proxies", json={"name": unique_name(), "listen": "nonsense",
                                          "upstream": "127.0.0.1:1"})
    assert response.status_code == 500
    assert response.json() == {"error": "listen tcp: address nonsense: missing port in address",
                               "status": 500}


def test_unresolvable_upstream_is_accepted_and_connections_see_eof(make_proxy) -> None:
    proxy = make_proxy("no-such-host.invalid:80")
    assert proxy.data["upstream"] == "no-such-host.invalid:80"
    with proxy.connect() as sock:
        assert recv_all(sock) == b""


def test_refused_upstream_gives_connect_then_eof(make_proxy) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    proxy = make_proxy(f"127.0.0.1:{port}")
    with proxy.connect() as sock:
        assert recv_all(sock) == b""


def test_get_and_list(api: Api, make_proxy, echo_upstream) -> None:
    b = make_proxy(echo_upstream.address, name=unique_name("b"))
    a = make_proxy(echo_upstream.address, name=unique_name("a"))
    shown = api.get(a.path)
    assert shown.status_code == 200
    assert shown.json() == a.data
    listing = api.get("/proxies")
    assert list(listing.json()) == sorted([a.name, b.name])
    assert listing.json()[b.name] == b.data
    assert list(listing.json()[a.name]) == PROXY_KEYS


def test_get_unknown_is_404(api: Api) -> None:
    response = api.get("/proxies/ghost")
    assert response.status_code == 404
    assert response.json() == {"error": "proxy not found", "status": 404}


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_subset_keeps_other_fields_and_ignores_name(api: Api, echo_proxy: ProxyHandle,
                                                           method: str) -> None:
    response = api.request(method, echo_proxy.path, json={"name": "renamed", "upstream": "127.0.0.1:9"})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == echo_proxy.name
    assert body["upstream"] == "127.0.0.1:9"
    assert body["listen"] == echo_proxy.data["listen"]
    assert body["enabled"] is True
    assert api.get("/proxies/renamed").status_code == 404


def test_update_unknown_is_404_before_body(api: Api) -> None:
    response = api.patch("/proxies/ghost", data=b"")
    assert response.status_code == 404
    assert response.json()["error"] == "proxy not found"


def test_update_empty_body_is_400(api: Api, echo_proxy: ProxyHandle) -> None:
    response = api.patch(echo_proxy.path, data=b"")
    assert response.status_code == 400
    assert response.json() == {"error": "bad request body: EOF", "status": 400}


def test_update_bad_listen_is_500(api: Api, echo_proxy: ProxyHandle) -> None:
    response = api.patch(echo_proxy.path, json={"listen": "bogus"})
    assert response.status_code == 500
    assert response.json() == {"error": "address bogus: missing port in address", "status": 500}


def test_disable_and_enable(api: Api, echo_proxy: ProxyHandle, target) -> None:
    echo_proxy.add_toxic("latency", latency=10)
    listen = echo_proxy.data["listen"]
    response = api.patch(echo_proxy.path, json={"enabled": False})
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert len(response.json()["toxics"]) == 1  # toxics are kept
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((target.proxy_host, echo_proxy.port), timeout=2).close()
    response = api.patch(echo_proxy.path, json={"enabled": True})
    assert response.status_code == 200
    assert response.json()["enabled"] is True
    assert response.json()["listen"] == listen
    with echo_proxy.connect() as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"


def test_delete(api: Api, echo_proxy: ProxyHandle, echo_upstream, target) -> None:
    echo_proxy.add_toxic("latency", latency=10)
    response = api.delete(echo_proxy.path)
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(echo_proxy.path).status_code == 404
    second = api.delete(echo_proxy.path)
    assert second.status_code == 404
    assert second.json() == {"error": "proxy not found", "status": 404}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((target.proxy_host, echo_proxy.port), timeout=2).close()
    # Re-creating the name starts without toxics.
    recreated = api.post("/proxies", json={"name": echo_proxy.name, "listen": "127.0.0.1:0",
                                           "upstream": echo_upstream.address})
    assert recreated.status_code == 201
    assert recreated.json()["toxics"] == []
