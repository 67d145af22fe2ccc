"""Spec §1: routing, methods, middleware, body decoding, error and success shapes."""

from __future__ import annotations

import json
import re

import pytest
from conformance_support import Api, unique_name

REQUEST_ID = re.compile(r"^[0-9a-v]{20}$")
TEXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize("path", ["/nope", "/proxies/", "/proxies/x/toxics/", "/version/", "/proxies/a/b"])
def test_unknown_path_is_plain_404(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == TEXT
    assert response.content == b"404 page not found\n"
    assert "X-Toxiproxy-Request-Id" not in response.headers


@pytest.mark.parametrize(
    "method,path",
    [("PUT", "/proxies"), ("DELETE", "/proxies"), ("GET", "/reset"), ("POST", "/version"),
     ("HEAD", "/version"), ("HEAD", "/proxies"), ("PUT", "/proxies/x"), ("GET", "/populate"),
     ("PUT", "/proxies/x/toxics"), ("PUT", "/proxies/x/toxics/y")],
)
def test_wrong_method_is_empty_405(api: Api, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert "X-Toxiproxy-Request-Id" not in response.headers


def test_matched_routes_carry_a_request_id(api: Api) -> None:
    for response in (api.get("/version"), api.get("/proxies"), api.get("/proxies/missing")):
        assert REQUEST_ID.match(response.headers["X-Toxiproxy-Request-Id"]), response.headers
    assert api.get("/version").headers["X-Toxiproxy-Request-Id"] != api.get("/version").headers[
        "X-Toxiproxy-Request-Id"]


@pytest.mark.parametrize("path", ["/version", "/proxies"])
def test_browser_user_agent_is_refused(api: Api, path: str) -> None:
    response = api.get(path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == TEXT
    assert response.content == b"User agent not allowed\n"
    assert REQUEST_ID.match(response.headers["X-Toxiproxy-Request-Id"])


def test_browser_check_does_not_apply_to_unknown_paths(api: Api) -> None:
    response = api.get("/nope", headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 404


def test_error_body_shape(api: Api) -> None:
    response = api.get("/proxies/does-not-exist")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == TEXT
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.content == b'{"error":"proxy not found","status":404}\n'


def test_success_body_is_compact_json_without_newline(api: Api, echo_upstream) -> None:
    name = unique_name()
    response = api.post("/proxies", json={"name": name, "listen": "127.0.0.1:0",
                                          "upstream": echo_upstream.address})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert not response.content.endswith(b"\n")
    assert b": " not in response.content and b", " not in response.content
    assert api.get("/proxies").headers["Content-Type"] == "application/json"


def test_empty_body_is_bad_request_eof(api: Api) -> None:
    response = api.post("/proxies", data=b"")
    assert response.status_code == 400
    assert response.content == b'{"error":"bad request body: EOF","status":400}\n'


def test_only_first_json_value_is_read(api: Api, echo_upstream) -> None:
    name = unique_name()
    body = json.dumps({"name": name, "listen": "127.0.0.1:0", "upstream": echo_upstream.address,
                       "surprise": [1, 2]}) + " trailing garbage {"
    response = api.post("/proxies", data=body.encode(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize(
    "body",
    [b'{"name":"a","upstream":"x:1","enabled":"yes"}', b'{"name":5,"upstream":"x:1"}', b"{not json",
     b'["a"]'],
)
def test_undecodable_body_is_400_bad_request_body(api: Api, body: bytes) -> None:
    response = api.post("/proxies", data=body)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == TEXT
    payload = response.json()
    assert list(payload) == ["error", "status"]
    assert payload["status"] == 400
    assert payload["error"].startswith("bad request body: ")


def test_type_mismatch_names_the_field(api: Api) -> None:
    response = api.post("/proxies", data=b'{"name":"a","upstream":"x:1","enabled":"yes"}')
    assert "enabled" in response.json()["error"]
    assert "bool" in response.json()["error"]
