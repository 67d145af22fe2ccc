"""``app_metrics.csv``: a service's own Prometheus metrics, scraped through its published port.

The endpoint declared by ``metrics:`` is fetched from the host (``http://127.0.0.1:<host port><path>``)
with a short timeout and parsed with ``prometheus_client``'s parser. Recorded: every gauge, counter and
untyped sample (or those whose name starts with one of ``include``), and only ``_count`` and ``_sum``
of histograms and summaries (buckets and quantiles would multiply the rows for little use; rates and
means come from count and sum). Counters are written as read (cumulative, with their ``_total``
suffix); ``_created`` samples are skipped.

``labels`` is the sample's label set in Prometheus syntax, sorted by name: ``method="GET",code="200"``.
"""

from __future__ import annotations

from collections.abc import Iterable

import requests
from prometheus_client.parser import text_string_to_metric_families

from faultdrill.recorder.samplers.base import SamplerUnavailable, published_url
from faultdrill.scenario.model import MetricsEndpoint

COLUMNS = ["service", "metric", "labels", "value"]
PLAIN_TYPES = {"counter", "gauge", "untyped", "unknown"}
SUMMARY_SUFFIXES = {"histogram": ("_count", "_sum"), "summary": ("_count", "_sum"),
                    "gaugehistogram": ("_gcount", "_gsum")}


# --------------------------------------------------------------------------- pure
def format_labels(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))


def metric_rows(service: str, text: str, include: Iterable[str] = ()) -> list[dict[str, object]]:
    """Rows for one scrape (pure). Raises ValueError on text that is not Prometheus exposition."""
    prefixes = tuple(include)
    rows: list[dict[str, object]] = []
    for family in text_string_to_metric_families(text):
        if family.type in PLAIN_TYPES:
            wanted = None
        elif family.type in SUMMARY_SUFFIXES:
            wanted = SUMMARY_SUFFIXES[family.type]
        else:
            continue  # info, stateset: not numbers over time
        for sample in family.samples:
            name = sample.name
            if name.endswith("_created"):
                continue
            if wanted is not None and not name.endswith(wanted):
                continue
            if prefixes and not name.startswith(prefixes):
                continue
            rows.append({"service": service, "metric": name, "labels": format_labels(sample.labels),
                         "value": float(sample.value)})
    return rows


def metrics_url(endpoint: MetricsEndpoint, ports: list[int], host_ports: dict[int, int]) -> str:
    """The host-side URL of a declared endpoint. Raises SamplerUnavailable naming the fix."""
    port = endpoint.port or (ports[0] if ports else None)
    if port is None:
        raise SamplerUnavailable("metrics: needs a published port: add ports: [PORT] to the service "
                                 "(or metrics.port, and list it in ports)")
    return published_url(port, endpoint.path, host_ports, "metrics")


# --------------------------------------------------------------------------- the sampler
class AppMetricsSampler:
    name = "app_metrics"
    columns = COLUMNS

    def __init__(self, service: str, url: str | None, include: Iterable[str] = (), timeout: float = 0.8,
                 unavailable: str | None = None) -> None:
        self.service = service
        self.label = f"app_metrics[{service}]"
        self.url = url
        self.include = tuple(include)
        self.timeout = timeout
        self.unavailable = unavailable
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": "faultdrill-recorder", "Accept": "text/plain"})

    @classmethod
    def for_service(cls, service: str, endpoint: MetricsEndpoint, ports: list[int], host_ports: dict[int, int],
                    timeout: float) -> AppMetricsSampler:
        try:
            return cls(service, metrics_url(endpoint, ports, host_ports), endpoint.include, timeout)
        except SamplerUnavailable as exc:
            return cls(service, None, endpoint.include, timeout, unavailable=str(exc))

    def sample(self) -> list[dict[str, object]]:
        if self.url is None:
            raise SamplerUnavailable(self.unavailable or "no metrics URL")
        response = self._session.get(self.url, timeout=self.timeout)
        if response.status_code >= 400:
            raise SamplerUnavailable(f"GET {self.url} answered {response.status_code}")
        return metric_rows(self.service, response.text, self.include)

    def close(self) -> None:
        self._session.close()
