"""``ingress.csv``: what reached the ingress, from nginx's own counters (``stub_status``).

A service that declares ``stub_status: {port, path}`` is scraped from the host through its published
port every interval. nginx's status page gives the connections it *accepted* and *handled* and the
requests it read since it started (cumulative counters), and the connections open now: ``active``,
split into ``reading`` (request headers), ``writing`` (a response, or waiting for the upstream) and
``waiting`` (keep-alive). Counters are written as read; per-second rates come from consecutive
samples in ``faultdrill.analysis.ingress`` (a counter that goes back is a restart, never a negative rate).

The counters are the ingress's side of the seed's incident 2: a TLS handshake the server refuses is
still an accepted TCP connection (``accepts`` counts it), but never a request (``requests`` does
not) — so the gap between what clients sent and what the web tier saw shows in requests.
"""

from __future__ import annotations

import re

import requests

from faultdrill.recorder.samplers.base import SamplerUnavailable, published_url
from faultdrill.scenario.model import StubStatus

COLUMNS = ["service", "accepted", "handled", "requests", "active", "reading", "writing", "waiting"]

_ACTIVE = re.compile(r"Active connections:\s*(\d+)")
_COUNTERS = re.compile(r"server accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)")
_STATES = re.compile(r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)")


# --------------------------------------------------------------------------- pure
def parse_stub_status(text: str) -> dict[str, int]:
    """nginx ``stub_status`` text -> counters and gauges. Raises ValueError on anything else."""
    active, counters, states = _ACTIVE.search(text), _COUNTERS.search(text), _STATES.search(text)
    if not (active and counters and states):
        raise ValueError(f"not an nginx stub_status page: {text.strip()[:120]!r}")
    accepted, handled, reqs = (int(v) for v in counters.groups())
    reading, writing, waiting = (int(v) for v in states.groups())
    return {"accepted": accepted, "handled": handled, "requests": reqs, "active": int(active.group(1)),
            "reading": reading, "writing": writing, "waiting": waiting}


def stub_status_url(endpoint: StubStatus, host_ports: dict[int, int]) -> str:
    """The host-side URL of a declared status page. Raises SamplerUnavailable naming the fix."""
    return published_url(endpoint.port, endpoint.path, host_ports, "stub_status")


# --------------------------------------------------------------------------- the sampler
class IngressSampler:
    name = "ingress"
    columns = COLUMNS

    def __init__(self, service: str, url: str | None, timeout: float = 0.8, unavailable: str | None = None,
                 session: requests.Session | None = None) -> None:
        self.service = service
        self.label = f"ingress[{service}]"
        self.url = url
        self.timeout = timeout
        self.unavailable = unavailable
        self._session = session or requests.Session()
        self._session.headers.update({"User-Agent": "faultdrill-recorder", "Accept": "text/plain"})

    @classmethod
    def for_service(cls, service: str, endpoint: StubStatus, host_ports: dict[int, int],
                    timeout: float) -> IngressSampler:
        try:
            return cls(service, stub_status_url(endpoint, host_ports), timeout)
        except SamplerUnavailable as exc:
            return cls(service, None, timeout, unavailable=str(exc))

    def sample(self) -> list[dict[str, object]]:
        if self.url is None:
            raise SamplerUnavailable(self.unavailable or "no stub_status URL")
        response = self._session.get(self.url, timeout=self.timeout)
        if response.status_code >= 400:
            raise SamplerUnavailable(f"GET {self.url} answered {response.status_code}")
        return [{"service": self.service, **parse_stub_status(response.text)}]

    def close(self) -> None:
        self._session.close()
