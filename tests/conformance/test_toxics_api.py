"""Spec §2.6-2.10 and §4: the toxic endpoints and the toxic object."""

from __future__ import annotations

import pytest
from conformance_support import Api, ProxyHandle

TOXIC_KEYS = ["attributes", "name", "type", "stream", "toxicity"]
ATTRIBUTES = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "noop": {},
}
# Attribute sets that are valid on every server (ours refuses slicer average_size 0, §7).
SAFE_ATTRIBUTES = {"slicer": {"average_size": 10, "size_variation": 0, "delay": 0}}


def create(api: Api, proxy: ProxyHandle, body: dict) -> object:
    return api.post(f"{proxy.path}/toxics", json=body)


@pytest.mark.parametrize("toxic_type", sorted(ATTRIBUTES))
def test_create_every_type_lists_all_attributes(api: Api, echo_proxy: ProxyHandle, toxic_type: str) -> None:
    attributes = SAFE_ATTRIBUTES.get(toxic_type, {})
    response = create(api, echo_proxy, {"type": toxic_type, "attributes": attributes})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == TOXIC_KEYS
    assert body["attributes"] == {**ATTRIBUTES[toxic_type], **attributes}
    assert list(body["attributes"]) == list(ATTRIBUTES[toxic_type])
    assert body["name"] == f"{toxic_type}_downstream"
    assert body["stream"] == "downstream"
    assert body["toxicity"] == 1
    assert response.content.endswith(b'"toxicity":1}')


def test_create_defaults_and_raw_text(api: Api, echo_proxy: ProxyHandle) -> None:
    response = create(api, echo_proxy, {"type": "latency", "attributes": {"latency": 100}})
    assert response.content == (
        b'{"attributes":{"latency":100,"jitter":0},"name":"latency_downstream","type":"latency",'
        b'"stream":"downstream","toxicity":1}'
    )


def test_stream_is_case_insensitive_and_echoed_as_sent(api: Api, echo_proxy: ProxyHandle) -> None:
    response = create(api, echo_proxy, {"type": "slow_close", "stream": "UpStream"})
    assert response.status_code == 200
    assert response.json()["stream"] == "UpStream"
    assert response.json()["name"] == "slow_close_UpStream"


@pytest.mark.parametrize("stream", ["", "sideways", "up"])
def test_invalid_stream(api: Api, echo_proxy: ProxyHandle, stream: str) -> None:
    response = create(api, echo_proxy, {"type": "latency", "stream": stream})
    assert response.status_code == 400
    assert response.json() == {"error": "stream was invalid, can be either upstream or downstream",
                               "status": 400}


@pytest.mark.parametrize("body", [{"type": "explode"}, {}, {"type": ""}])
def test_invalid_type(api: Api, echo_proxy: ProxyHandle, body: dict) -> None:
    response = create(api, echo_proxy, body)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid toxic type", "status": 400}


def test_duplicate_name_across_streams_is_409_before_attributes(api: Api, echo_proxy: ProxyHandle) -> None:
    assert create(api, echo_proxy, {"name": "dup", "type": "latency"}).status_code == 200
    response = create(api, echo_proxy, {"name": "dup", "type": "latency", "stream": "upstream",
                                        "attributes": {"latency": "not a number"}})
    assert response.status_code == 409
    assert response.json() == {"error": "toxic already exists", "status": 409}


@pytest.mark.parametrize(
    "body,fragment",
    [({"type": "latency", "attributes": {"latency": "100"}}, "latency"),
     ({"type": "latency", "attributes": {"latency": 1.5}}, "1.5"),
     ({"type": "latency", "toxicity": "1"}, "toxicity"),
     ({"type": 5}, "type")],
)
def test_wrong_types_are_400(api: Api, echo_proxy: ProxyHandle, body: dict, fragment: str) -> None:
    response = create(api, echo_proxy, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("bad request body: ")
    assert fragment in error


def test_toxicity_is_not_range_checked_and_null_keeps_default(api: Api, echo_proxy: ProxyHandle) -> None:
    high = create(api, echo_proxy, {"name": "high", "type": "noop", "toxicity": 1.5})
    assert high.json()["toxicity"] == 1.5
    null = create(api, echo_proxy, {"name": "null", "type": "noop", "toxicity": None, "attributes": None})
    assert null.status_code == 200
    assert null.json()["toxicity"] == 1
    third = create(api, echo_proxy, {"name": "third", "type": "noop", "toxicity": 0.3})
    assert b'"toxicity":0.3}' in third.content


def test_missing_attributes_are_zero_and_unknown_ignored(api: Api, echo_proxy: ProxyHandle) -> None:
    response = create(api, echo_proxy, {"type": "latency", "attributes": {"jitter": 5, "bogus": 1}})
    assert response.json()["attributes"] == {"latency": 0, "jitter": 5}


def test_create_on_unknown_proxy_is_404(api: Api) -> None:
    response = api.post("/proxies/ghost/toxics", json={"type": "latency"})
    assert response.status_code == 404
    assert response.json() == {"error": "proxy not found", "status": 404}


def test_list_puts_upstream_first_in_insertion_order(api: Api, echo_proxy: ProxyHandle) -> None:
    assert api.get(f"{echo_proxy.path}/toxics").content == b"[]"
    for name, stream in [("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")]:
        assert create(api, echo_proxy, {"name": name, "type": "noop", "stream": stream}).status_code == 200
    names = [t["name"] for t in api.get(f"{echo_proxy.path}/toxics").json()]
    assert names == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in echo_proxy.refresh()["toxics"]] == names


def test_get_toxic(api: Api, echo_proxy: ProxyHandle) -> None:
    created = echo_proxy.add_toxic("latency", latency=7)
    response = api.get(f"{echo_proxy.path}/toxics/latency_downstream")
    assert response.status_code == 200
    assert response.json() == created
    missing = api.get(f"{echo_proxy.path}/toxics/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "toxic not found", "status": 404}
    assert api.get("/proxies/ghost/toxics/nope").json()["error"] == "proxy not found"


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_merges_attributes(api: Api, echo_proxy: ProxyHandle, method: str) -> None:
    echo_proxy.add_toxic("latency", latency=100, jitter=1, toxicity=0.5)
    response = api.request(method, f"{echo_proxy.path}/toxics/latency_downstream",
                           json={"attributes": {"jitter": 5}, "name": "x", "type": "timeout",
                                 "stream": "upstream"})
    assert response.status_code == 200
    body = response.json()
    assert body == {"attributes": {"latency": 100, "jitter": 5}, "name": "latency_downstream",
                    "type": "latency", "stream": "downstream", "toxicity": 0.5}


def test_update_toxicity_zero_and_missing(api: Api, echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=100)
    path = f"{echo_proxy.path}/toxics/latency_downstream"
    assert api.patch(path, json={"toxicity": 0}).json()["toxicity"] == 0
    assert api.patch(path, json={"attributes": {"latency": 5}}).json()["toxicity"] == 0


def test_update_errors(api: Api, echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=100)
    empty = api.patch(f"{echo_proxy.path}/toxics/latency_downstream", data=b"")
    assert empty.status_code == 400
    assert empty.json() == {"error": "bad request body: EOF", "status": 400}
    missing = api.patch(f"{echo_proxy.path}/toxics/nope", json={"toxicity": 1})
    assert missing.status_code == 404
    assert missing.json() == {"error": "toxic not found", "status": 404}
    bad = api.patch(f"{echo_proxy.path}/toxics/latency_downstream", json={"attributes": {"latency": "x"}})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("bad request body: ")


def test_delete_toxic(api: Api, echo_proxy: ProxyHandle) -> None:
    echo_proxy.add_toxic("latency", latency=100)
    response = api.delete(f"{echo_proxy.path}/toxics/latency_downstream")
    assert response.status_code == 204
    assert response.content == b""
    again = api.delete(f"{echo_proxy.path}/toxics/latency_downstream")
    assert again.status_code == 404
    assert again.json() == {"error": "toxic not found", "status": 404}
    assert api.get(f"{echo_proxy.path}/toxics").json() == []
