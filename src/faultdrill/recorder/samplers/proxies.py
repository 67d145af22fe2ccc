"""``proxies.csv``: per Toxiproxy proxy, whether it is enabled, its toxics, bytes and connections.

``enabled`` and ``toxics`` come from the API (``GET /proxies``). Bytes and connections come from
``/metrics`` where the server serves it (both servers do when started with ``-proxy-metrics``):

* faultdrill's compatible server: ``faultdrill_proxy_live_sent_bytes_total`` (bytes written towards
  the upstream = ``bytes_up``, towards the client = ``bytes_down``, counted while streaming) and
  ``faultdrill_proxy_active_connections``;
* the official server: ``toxiproxy_proxy_sent_bytes_total``, which Toxiproxy only adds to **when a
  connection closes** (so long-lived connections show up late); no connection gauge.

Without a connection gauge, ``connections`` is the number of ESTABLISHED sockets on the proxy's
listen port in the Toxiproxy container's netns. Cells are empty where a value is unavailable.
``/metrics`` is probed once and again every 30 s while it is missing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import requests
from docker.models.containers import Container
from prometheus_client.parser import text_string_to_metric_families

from faultdrill.recorder.samplers.connections import NetnsReader
from faultdrill.stack.netns import Socket
from faultdrill.toxiproxy.client import ProxyInfo, ToxiproxyClient

COLUMNS = ["proxy", "enabled", "toxics", "bytes_up", "bytes_down", "connections"]
LIVE_BYTES = "faultdrill_proxy_live_sent_bytes_total"
LINK_END_BYTES = "toxiproxy_proxy_sent_bytes_total"
ACTIVE = "faultdrill_proxy_active_connections"
METRICS_RETRY_S = 30.0


# --------------------------------------------------------------------------- pure
def parse_proxy_metrics(text: str) -> dict[str, dict[str, float]]:
    """``/metrics`` text -> {proxy: {"bytes_up", "bytes_down", "connections"}} with what is there."""
    samples: dict[str, list[Any]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append(sample)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    source = LIVE_BYTES if samples.get(LIVE_BYTES) else LINK_END_BYTES
    for sample in samples.get(source, []):
        proxy, direction = sample.labels.get("proxy"), sample.labels.get("direction")
        column = {"upstream": "bytes_up", "downstream": "bytes_down"}.get(direction or "")
        if proxy and column:
            out[proxy][column] = out[proxy].get(column, 0.0) + sample.value
    for sample in samples.get(ACTIVE, []):
        if sample.labels.get("proxy"):
            out[sample.labels["proxy"]]["connections"] = sample.value
    return dict(out)


def listen_port(listen: str) -> int | None:
    try:
        return int(listen.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def format_toxics(toxics: Iterable[dict[str, Any]]) -> str:
    """``name(type/stream)`` for each toxic, ``;``-separated; empty when there are none."""
    return ";".join(f"{t.get('name', '?')}({t.get('type', '?')}/{t.get('stream', '?')})" for t in toxics)


def proxy_rows(proxies: dict[str, ProxyInfo], metrics: dict[str, dict[str, float]] | None,
               sockets: list[Socket] | None) -> list[dict[str, object]]:
    rows = []
    for name, info in sorted(proxies.items()):
        values = (metrics or {}).get(name, {})
        connections = values.get("connections")
        port = listen_port(info.listen)
        if connections is None and sockets is not None and port is not None:
            connections = sum(1 for s in sockets if s.local_port == port and s.state == "ESTABLISHED")
        # once the server reports byte counters, a proxy without any has carried 0 bytes; before, unknown
        has_bytes = any("bytes_up" in v or "bytes_down" in v for v in (metrics or {}).values())
        rows.append({"proxy": name, "enabled": info.enabled, "toxics": format_toxics(info.toxics),
                     "bytes_up": values.get("bytes_up", 0 if has_bytes else None),
                     "bytes_down": values.get("bytes_down", 0 if has_bytes else None),
                     "connections": connections})
    return rows


# --------------------------------------------------------------------------- the sampler
class ProxiesSampler:
    name = "proxies"
    columns = COLUMNS
    label = "proxies"

    def __init__(self, api_url: str, toxiproxy_container: Container | None, timeout: float = 0.8) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.client = ToxiproxyClient(api_url, timeout=timeout)  # our own: the fault engine has its own
        self.reader = NetnsReader(toxiproxy_container) if toxiproxy_container is not None else None
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "faultdrill-recorder"
        self._metrics_missing_until = 0.0

    def sample(self) -> list[dict[str, object]]:
        proxies = self.client.proxies()
        metrics = self._metrics()
        needs_sockets = any("connections" not in (metrics or {}).get(name, {}) for name in proxies)
        sockets = self.reader.sockets() if needs_sockets and self.reader is not None else None
        return proxy_rows(proxies, metrics, sockets)

    def _metrics(self) -> dict[str, dict[str, float]] | None:
        if time.monotonic() < self._metrics_missing_until:
            return None
        try:
            response = self._session.get(self.api_url + "/metrics", timeout=self.timeout)
        except requests.RequestException:
            return None  # the API call above worked: a slow /metrics only costs the byte columns
        if response.status_code != 200:
            self._metrics_missing_until = time.monotonic() + METRICS_RETRY_S
            return None
        return parse_proxy_metrics(response.text)

    def close(self) -> None:
        self.client.close()
        self._session.close()
        if self.reader is not None:
            self.reader.close()
