"""Spec §2.11-2.13: /reset, /version, /populate."""

from __future__ import annotations

import re

import pytest
from conformance_support import Api, round_trip_ms, unique_name


def test_version_format(api: Api) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    assert re.fullmatch(rb'\{"version": "[^"\\]+"\}\n', response.content), response.content


def test_version_identifies_faultdrill(api: Api, ours_only: None) -> None:
    assert api.get("/version").content == b'{"version": "2.12.0+faultdrill"}\n'


def test_reset_reenables_removes_toxics_keeps_proxies_and_connections(
    api: Api, make_proxy, echo_upstream
) -> None:
    live = make_proxy(echo_upstream.address)
    down = make_proxy(echo_upstream.address)
    live.add_toxic("latency", latency=250)
    live.add_toxic("noop", stream="upstream")
    assert api.patch(down.path, json={"enabled": False}).status_code == 200
    with live.connect() as sock:
        assert round_trip_ms(sock) >= 240
        response = api.post("/reset")
        assert response.status_code == 204
        assert response.content == b""
        assert round_trip_ms(sock) < 150  # same connection survives, toxic gone
    assert live.refresh()["toxics"] == []
    assert down.refresh()["enabled"] is True
    with down.connect() as sock:
        assert round_trip_ms(sock) < 150


def populate(api: Api, entries: list) -> object:
    return api.post("/populate", json=entries)


def test_populate_creates_in_order(api: Api, echo_upstream) -> None:
    names = [unique_name("z"), unique_name("a")]
    response = populate(api, [
        {"name": names[0], "listen": "127.0.0.1:0", "upstream": echo_upstream.address},
        {"name": names[1], "listen": "127.0.0.1:0", "upstream": echo_upstream.address, "enabled": False},
    ])
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["proxies"]
    assert [p["name"] for p in body["proxies"]] == names
    assert [p["enabled"] for p in body["proxies"]] == [True, False]
    assert body["proxies"][0]["listen"] != "127.0.0.1:0"
    assert body["proxies"][1]["listen"] == "127.0.0.1:0"


def test_populate_empty_is_null(api: Api) -> None:
    response = populate(api, [])
    assert response.status_code == 201
    assert response.content == b'{"proxies":null}'


def test_populate_bad_body_is_json_error_with_null_proxies(api: Api) -> None:
    response = api.post("/populate", json={"name": "x"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert not response.content.endswith(b"\n")
    body = response.json()
    assert list(body) == ["error", "status", "proxies"]
    assert body["error"].startswith("bad request body: ")
    assert body["proxies"] is None


@pytest.mark.parametrize("missing", ["name", "upstream"])
def test_populate_validates_everything_first(api: Api, echo_upstream, missing: str) -> None:
    first = unique_name()
    entry = {"name": "x", "listen": "127.0.0.1:0", "upstream": echo_upstream.address}
    del entry[missing]
    response = populate(api, [
        {"name": first, "listen": "127.0.0.1:0", "upstream": echo_upstream.address}, entry])
    assert response.status_code == 400
    assert response.json() == {"error": f"missing required field: {missing} at proxy 2", "status": 400,
                                "proxies": None}
    assert api.get(f"/proxies/{first}").status_code == 404


def test_populate_keeps_identical_proxy_untouched(api: Api, make_proxy, echo_upstream) -> None:
    proxy = make_proxy(echo_upstream.address)
    proxy.add_toxic("latency", latency=250)
    with proxy.connect() as sock:
        assert round_trip_ms(sock) >= 240
        response = populate(api, [{"name": proxy.name, "listen": proxy.data["listen"],
                                   "upstream": echo_upstream.address, "enabled": False}])
        assert response.status_code == 201
        kept = response.json()["proxies"][0]
        assert kept["enabled"] is True
        assert len(kept["toxics"]) == 1
        assert round_trip_ms(sock) >= 240  # connection survived, toxic still there


def test_populate_replaces_different_proxy(api: Api, make_proxy, echo_upstream, make_upstream) -> None:
    other = make_upstream()
    proxy = make_proxy(echo_upstream.address)
    proxy.add_toxic("latency", latency=10)
    with proxy.connect() as sock:
        round_trip_ms(sock)
        response = populate(api, [{"name": proxy.name, "listen": proxy.data["listen"],
                                   "upstream": other.address}])
        assert response.status_code == 201
        sock.settimeout(3)
        assert sock.recv(10) == b""  # old connection dropped
    replaced = proxy.refresh()
    assert replaced["upstream"] == other.address
    assert replaced["toxics"] == []


def test_populate_does_not_remove_unlisted(api: Api, make_proxy, echo_upstream) -> None:
    kept = make_proxy(echo_upstream.address)
    response = populate(api, [{"name": unique_name(), "listen": "127.0.0.1:0",
                               "upstream": echo_upstream.address}])
    assert response.status_code == 201
    assert api.get(kept.path).status_code == 200


def test_populate_stops_at_first_failure(api: Api, make_proxy, echo_upstream) -> None:
    busy = make_proxy(echo_upstream.address)
    names = [unique_name("one"), unique_name("two"), unique_name("three")]
    response = populate(api, [
        {"name": names[0], "listen": "127.0.0.1:0", "upstream": echo_upstream.address},
        {"name": names[1], "listen": busy.data["listen"], "upstream": echo_upstream.address},
        {"name": names[2], "listen": "127.0.0.1:0", "upstream": echo_upstream.address},
    ])
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == f"listen tcp {busy.data['listen']}: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == [names[0]]
    assert api.get(f"/proxies/{names[0]}").status_code == 200
    assert api.get(f"/proxies/{names[2]}").status_code == 404


def test_populate_duplicate_names_in_one_request(api: Api, echo_upstream, make_upstream) -> None:
    other = make_upstream()
    name = unique_name()
    response = populate(api, [
        {"name": name, "listen": "127.0.0.1:0", "upstream": echo_upstream.address},
        {"name": name, "listen": "127.0.0.1:0", "upstream": other.address},
    ])
    assert response.status_code == 201
    first, second = response.json()["proxies"]
    assert first["enabled"] is False
    assert second["enabled"] is True
    assert api.get(f"/proxies/{name}").json()["upstream"] == other.address
