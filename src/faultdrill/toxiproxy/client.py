"""The one client of a Toxiproxy API: the official server and faultdrill's compatible one alike.

Every call is made per instance (two servers can be used at once) with a timeout, and a toxic can be
updated in place. The answers the API gives in status codes are exceptions with Toxiproxy's own
names: 409 ``ProxyExists``, 404 ``NotFound``, 400 ``InvalidToxic`` (the names of its Ruby and Python
clients, which this replaces; the Python one, 0.1.1, had class-level host/port and no timeouts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from faultdrill.errors import InfraError

__all__ = ["InvalidToxic", "NotFound", "ProxyExists", "ToxiproxyClient", "ToxiproxyError", "ToxiproxyRefused",
           "ToxiproxyUnreachable"]


class ToxiproxyError(InfraError):
    pass


class ToxiproxyUnreachable(ToxiproxyError):
    """Nothing answers at the API address (connection refused): no server, so no proxies or toxics either."""


class ToxiproxyRefused(Exception):
    """The API answered a request with a refusal that callers act on (not an infrastructure failure)."""


class ProxyExists(ToxiproxyRefused):
    """409: a proxy of that name (or a toxic of that name on the proxy) exists already."""


class NotFound(ToxiproxyRefused):
    """404: no such proxy or toxic."""


class InvalidToxic(ToxiproxyRefused):
    """400: the server refused the request's fields (e.g. an unknown toxic type)."""


_REFUSALS: dict[int, type[ToxiproxyRefused]] = {409: ProxyExists, 404: NotFound, 400: InvalidToxic}


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[dict[str, Any], ...]


class ToxiproxyClient:
    def __init__(self, api_url: str, timeout: float = 5.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        # The official server refuses browser user agents (403); say who we are.
        self._session.headers["User-Agent"] = "faultdrill"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._session.request(method, self.api_url + path, json=body, timeout=self.timeout)
        except requests.Timeout as exc:  # something is there but slow: not the same as nothing there
            raise ToxiproxyError(f"Toxiproxy API {method} {path} timed out: {exc}") from None
        except requests.ConnectionError as exc:
            raise ToxiproxyUnreachable(f"Toxiproxy API {method} {path}: nothing answers at {self.api_url} ({exc})") from None
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy API {method} {path} failed: {exc}") from None
        refusal = _REFUSALS.get(response.status_code)
        if refusal is not None:
            raise refusal(response.text.strip() or f"{response.status_code} on {method} {path}")
        if response.status_code >= 400:
            raise ToxiproxyError(f"Toxiproxy API {method} {path}: {response.status_code} {response.text.strip()}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def wait_ready(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return self.version()
            except ToxiproxyError as exc:
                last = exc
                time.sleep(0.2)
        raise ToxiproxyError(f"Toxiproxy API at {self.api_url} not ready after {timeout:g}s: {last}")

    # ------------------------------------------------------------------ API
    def version(self) -> str:
        try:
            response = self._session.get(self.api_url + "/version", timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy API unreachable: {exc}") from None
        if response.status_code != 200:
            raise ToxiproxyError(f"Toxiproxy /version answered {response.status_code}")
        try:
            return str(response.json()["version"])
        except (ValueError, KeyError, TypeError):
            return response.text.strip()

    def proxies(self) -> dict[str, ProxyInfo]:
        return {name: _proxy(p) for name, p in (self._call("GET", "/proxies") or {}).items()}

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> ProxyInfo:
        return _proxy(self._call("POST", "/proxies",
                                 {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}))

    def update_proxy(self, name: str, **fields: Any) -> ProxyInfo:
        return _proxy(self._call("POST", f"/proxies/{name}", fields))

    def add_toxic(self, proxy: str, name: str, type: str, attributes: dict[str, int],
                  stream: str = "downstream", toxicity: float = 1.0) -> dict[str, Any]:
        toxic: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics", {
            "name": name, "type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes})
        return toxic

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, int] | None = None,
                     toxicity: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        toxic: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics/{name}", body)
        return toxic

    def remove_toxic(self, proxy: str, name: str, missing_ok: bool = True) -> None:
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except NotFound:
            if not missing_ok:
                raise

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics") or []

    def reset(self) -> None:
        self._call("POST", "/reset")


def _proxy(data: dict[str, Any]) -> ProxyInfo:
    return ProxyInfo(data["name"], data.get("listen", ""), data.get("upstream", ""), bool(data.get("enabled")),
                     tuple(data.get("toxics") or ()))
