"""Fixtures for the Toxiproxy conformance suite.

By default the suite runs against faultdrill's own server, started in-process
on 127.0.0.1 with an ephemeral port.  Set ``FAULTDRILL_TOXIPROXY_URL`` (e.g.
``http://127.0.0.1:8474``) to test another server instead, and
``FAULTDRILL_TOXIPROXY_PROXY_HOST`` (default 127.0.0.1) for where its proxies'
listen ports are reachable.  The suite creates, resets and deletes proxies on
that server: use a dedicated instance.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from conformance_support import (  # noqa: E402
    Api,
    ProxyHandle,
    Target,
    Upstream,
    echo,
    unique_name,
)

from faultdrill.toxiproxy_server import ToxiproxyServer  # noqa: E402
from faultdrill.toxiproxy_server.pump import ENV as PUMP_ENV  # noqa: E402


@pytest.fixture(scope="session", params=[(1, "native"), (2, "native"), (1, "python")],
                ids=["1-process", "2-processes", "python-path"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Ours runs the whole suite three times: in one process, with a data-plane helper process
    (connections then land in either process, so every toxic change must reach both), and with every
    byte moved by Python, without the native pump (as on a host that installed faultdrill without a
    C compiler)."""
    external = os.environ.get("FAULTDRILL_TOXIPROXY_URL", "").rstrip("/")
    proxy_host = os.environ.get("FAULTDRILL_TOXIPROXY_PROXY_HOST", "127.0.0.1")
    processes, path = request.param
    if external:
        if (processes, path) != (1, "native"):
            pytest.skip("another server: its processes and data path are its own business")
        yield Target(external, proxy_host, ours=False)
        return
    previous = os.environ.get(PUMP_ENV)
    os.environ[PUMP_ENV] = path  # read once, when the server (and its helpers) start
    try:
        server = ToxiproxyServer("127.0.0.1", 0, processes=processes).start()
    finally:
        if previous is None:
            del os.environ[PUMP_ENV]
        else:
            os.environ[PUMP_ENV] = previous
    try:
        yield Target(server.api_url, "127.0.0.1", ours=True)
        assert server.failure is None, server.failure
    finally:
        server.stop()


@pytest.fixture
def ours_only(target: Target) -> None:
    if not target.ours:
        pytest.skip("faultdrill-specific behaviour (FAULTDRILL_TOXIPROXY_URL points at another server)")


@pytest.fixture(scope="session")
def session_api(target: Target) -> Iterator[Api]:
    api = Api(target.url)
    yield api
    api.session.close()


@pytest.fixture
def api(session_api: Api) -> Iterator[Api]:
    session_api.delete_all_proxies()
    yield session_api
    session_api.delete_all_proxies()


@pytest.fixture
def make_upstream() -> Iterator[Callable[..., Upstream]]:
    created: list[Upstream] = []

    def factory(behaviour: Callable = echo) -> Upstream:
        upstream = Upstream(behaviour)
        created.append(upstream)
        return upstream

    yield factory
    for upstream in created:
        upstream.close()


@pytest.fixture
def echo_upstream(make_upstream: Callable[..., Upstream]) -> Upstream:
    return make_upstream(echo)


@pytest.fixture
def make_proxy(api: Api, target: Target) -> Callable[..., ProxyHandle]:
    def factory(upstream: str, *, name: str | None = None, enabled: bool = True,
                listen: str | None = None) -> ProxyHandle:
        proxy_name = name or unique_name()
        body = {"name": proxy_name, "listen": listen if listen is not None else f"{target.proxy_host}:0",
                "upstream": upstream, "enabled": enabled}
        response = api.post("/proxies", json=body)
        assert response.status_code == 201, response.text
        return ProxyHandle(api, target, proxy_name, response.json())

    return factory


@pytest.fixture
def echo_proxy(make_proxy: Callable[..., ProxyHandle], echo_upstream: Upstream) -> ProxyHandle:
    return make_proxy(echo_upstream.address)
