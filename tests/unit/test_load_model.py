"""The scenario's load section: modes, ramps, spike/steps, profiles; and the failure classifier."""

from __future__ import annotations

import socket
import ssl
from types import SimpleNamespace

import pytest
import requests
import urllib3
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.useragent import BadStatusCode, RetriesExceeded
from pydantic import ValidationError

from faultdrill.load.config import ChildConfig
from faultdrill.load.failures import classify_failure
from faultdrill.load.shape import Segment, level_at
from faultdrill.scenario.load_model import Load

BASE = {"journeys": "builtin:ticketing", "host": "http://127.0.0.1:8000"}


def load(**kw: object) -> Load:
    return Load.model_validate({**BASE, **kw})


def test_closed_stages_with_a_ramp() -> None:
    model = load(shape=[{"until": "30s", "users": 20}, {"until": "60s", "users": 300, "ramp": True}])
    assert model.mode == "closed" and model.total_duration == 60
    assert level_at(model.segments(), 45) == pytest.approx(160)


def test_open_mode_takes_rates() -> None:
    model = load(mode="open", shape=[{"until": "30s", "rate": 200}], max_in_flight=500)
    assert model.segments() == [Segment(30, 200.0, False, None)]


@pytest.mark.parametrize("kw, words", [
    ({"mode": "open", "shape": [{"until": "30s", "users": 20}]}, "needs rate"),
    ({"shape": [{"until": "30s", "rate": 20}]}, "needs users"),
    ({"shape": [{"until": "30s", "users": 20, "rate": 5}]}, "write users: instead"),
    ({"shape": [{"until": "30s", "users": 20, "ramp": True, "spawn_rate": 5}]}, "spawn_rate"),
    ({}, "exactly one of load.shape"),
    ({"shape": [{"until": "3s", "users": 1}], "steps": {"levels": [1], "every": "1s"}}, "got shape, steps"),
    ({"spike": {"baseline": 1, "peak": 9, "at": "10s", "hold": "5s", "decay": "10s", "until": "20s"}},
     "before its decay is over"),
    ({"shape": [{"until": "3s", "users": 1}], "profiles": [{"name": "a", "share": 0.5}]}, "add up to 1"),
    ({"shape": [{"until": "3s", "users": 1}], "profiles": [{"name": "a", "share": 0.5, "tls": {
        "min_version": "1.3", "max_version": "1.1"}}, {"name": "b", "share": 0.5}]}, "above max_version"),
    ({"steps": {"levels": [1], "start": 1, "step": 1, "count": 2, "every": "1s"}}, "either levels"),
])
def test_bad_load_sections_say_what_to_write(kw: dict, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        load(**kw)
    assert words in str(info.value)


def test_spike_and_steps_become_segments() -> None:
    spiky = load(mode="open", spike={"baseline": 20, "peak": 300, "at": "30s", "rise": "5s", "hold": "60s",
                                     "decay": "30s", "until": "150s"})
    assert spiky.total_duration == 150 and level_at(spiky.segments(), 40) == 300
    stairs = load(mode="open", steps={"start": 50, "step": 50, "count": 10, "every": "10s"})
    assert stairs.total_duration == 100 and level_at(stairs.segments(), 95) == 500


def test_child_config_from_the_model_and_from_the_old_protocol() -> None:
    model = load(mode="open", shape=[{"until": "10s", "rate": 100}], workers=2, think_time={"min": 1, "max": 2},
                 profiles=[{"name": "legacy", "share": 0.15, "tls": {"max_version": "1.1"}},
                           {"name": "modern", "share": 0.85}])
    config = ChildConfig.from_load(model, t0=1.0, duration=10, host="http://127.0.0.1:1", journeys="builtin:smoke")
    assert ChildConfig.from_json(config.to_json()) == config
    assert config.profiles[0]["tls"]["max_version"] == "1.1" and config.think_time == (1, 2)
    old = {"t0": 1.0, "duration": 5, "host": "http://127.0.0.1:1", "journeys": "builtin:smoke",
           "stages": [{"until": 5, "users": 3, "spawn_rate": None}], "request_timeout": 2}
    assert ChildConfig.from_json(old).segments == [Segment(5, 3.0, False, None)]


# -- failures, with the exception objects the real clients raise --------------------------
def refused_via_requests() -> Exception:
    inner = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")
    inner.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", inner))


@pytest.mark.parametrize("exception, response, kind", [
    (BadStatusCode("http://x/", code=503), SimpleNamespace(status_code=503), "HTTP 503"),
    (requests.exceptions.HTTPError("500 Server Error"), SimpleNamespace(status_code=500), "HTTP 500"),
    (RetriesExceeded("http://x/", 1, original=TimeoutError("timed out")), SimpleNamespace(status_code=0), "timeout"),
    (ConnectionRefusedError(111, "Connection refused"), SimpleNamespace(status_code=0), "connection refused"),
    (refused_via_requests(), None, "connection refused"),
    (ConnectionResetError(104, "Connection reset by peer"), None, "connection reset"),
    (requests.exceptions.ReadTimeout("read timed out"), None, "timeout"),
    (ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version"), None, "tls handshake"),
    (requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, "/", ssl.SSLError(1, "x"))), None,
     "tls handshake"),
    (ssl.SSLError("The read operation timed out"), None, "timeout"),
    (HTTPConnectionClosed("connection closed."), None, "connection closed"),
    (socket.gaierror(-2, "Name or service not known"), None, "dns"),
    (ValueError("odd"), None, "ValueError"),
])
def test_failures_are_named_by_kind(exception: BaseException, response: object, kind: str) -> None:
    assert classify_failure(exception, response) == kind
