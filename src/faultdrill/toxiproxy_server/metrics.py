"""Prometheus text exposition for ``/metrics`` (spec §2.14) plus our extensions.

Standard series (only with ``proxy_metrics``), exactly as Toxiproxy counts them:
``toxiproxy_proxy_received_bytes_total`` / ``toxiproxy_proxy_sent_bytes_total``
with labels direction, listener, proxy, upstream, added **when a link ends**.

Extensions (``faultdrill_`` prefix, read-only, documented in the package
docstring): live byte counters, which include the bytes of links still
streaming, and per-proxy active and total connection counts.

The data path only increments its links' own counters; the live series are
summed from the open links when ``/metrics`` is read, so moving a chunk costs
no metrics call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["CONTENT_TYPE", "LinkLabels", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class LinkLabels:
    direction: str
    listener: str
    proxy: str
    upstream: str

    def render(self) -> str:
        return (
            f'direction="{_escape(self.direction)}",listener="{_escape(self.listener)}",'
            f'proxy="{_escape(self.proxy)}",upstream="{_escape(self.upstream)}"'
        )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ByteCounts(Protocol):
    """What a link counts as it streams (``link.LinkCounters``)."""

    received: int
    sent: int
    write_failed: bool


@dataclass
class ProxyGauge:
    name: str
    active_connections: int
    enabled: bool


@dataclass
class Metrics:
    proxy_metrics: bool = False
    runtime_metrics: bool = False
    version: str = ""
    received: dict[LinkLabels, int] = field(default_factory=lambda: defaultdict(int))
    sent: dict[LinkLabels, int] = field(default_factory=lambda: defaultdict(int))
    connections_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Bytes of links that have ended, whatever the flags (the live series' base).
    _ended_received: dict[LinkLabels, int] = field(default_factory=lambda: defaultdict(int))
    _ended_sent: dict[LinkLabels, int] = field(default_factory=lambda: defaultdict(int))
    #: The counters of links still streaming, by labels.
    _open: dict[LinkLabels, set[ByteCounts]] = field(default_factory=lambda: defaultdict(set))

    @property
    def enabled(self) -> bool:
        return self.proxy_metrics or self.runtime_metrics

    def link_started(self, labels: LinkLabels, counts: ByteCounts) -> None:
        self._open[labels].add(counts)

    def link_ended(self, labels: LinkLabels, counts: ByteCounts) -> None:
        """Toxiproxy's counters get a link's bytes when it ends (sent only if no write failed)."""
        links = self._open.get(labels)
        if links is not None:
            links.discard(counts)
            if not links:
                del self._open[labels]
        self._ended_received[labels] += counts.received
        self._ended_sent[labels] += counts.sent
        if not self.proxy_metrics:
            return
        self.received[labels] += counts.received
        if not counts.write_failed:
            self.sent[labels] += counts.sent

    @property
    def live_received(self) -> dict[LinkLabels, int]:
        """Bytes read from each side so far, streaming links included."""
        return self._live(self._ended_received, "received")

    @property
    def live_sent(self) -> dict[LinkLabels, int]:
        """Bytes written to each side so far, streaming links included."""
        return self._live(self._ended_sent, "sent")

    def _live(self, ended: dict[LinkLabels, int], attribute: str) -> dict[LinkLabels, int]:
        totals = dict(ended)
        for labels, links in self._open.items():
            totals[labels] = totals.get(labels, 0) + sum(getattr(link, attribute) for link in links)
        return totals

    def render(self, proxies: Iterable[ProxyGauge]) -> str:
        lines: list[str] = []
        if self.proxy_metrics:
            _counter(lines, "toxiproxy_proxy_received_bytes_total",
                     "The number of bytes received from the client", self.received)
            _counter(lines, "toxiproxy_proxy_sent_bytes_total",
                     "The number of bytes sent to the client", self.sent)
            _counter(lines, "faultdrill_proxy_live_received_bytes_total",
                     "Extension: bytes read from a side of a proxy, counted while streaming",
                     self.live_received)
            _counter(lines, "faultdrill_proxy_live_sent_bytes_total",
                     "Extension: bytes written to a side of a proxy, counted while streaming",
                     self.live_sent)
        gauges = sorted(proxies, key=lambda p: p.name)
        lines.append("# HELP faultdrill_proxy_active_connections Extension: open proxied connections")
        lines.append("# TYPE faultdrill_proxy_active_connections gauge")
        for gauge in gauges:
            lines.append(f'faultdrill_proxy_active_connections{{proxy="{_escape(gauge.name)}"}} {gauge.active_connections}')
        lines.append("# HELP faultdrill_proxy_connections_total Extension: accepted and proxied connections")
        lines.append("# TYPE faultdrill_proxy_connections_total counter")
        for name in sorted(self.connections_total):
            lines.append(f'faultdrill_proxy_connections_total{{proxy="{_escape(name)}"}} {self.connections_total[name]}')
        lines.append("# HELP faultdrill_proxy_enabled Extension: 1 while the proxy listens")
        lines.append("# TYPE faultdrill_proxy_enabled gauge")
        for gauge in gauges:
            lines.append(f'faultdrill_proxy_enabled{{proxy="{_escape(gauge.name)}"}} {int(gauge.enabled)}')
        if self.runtime_metrics:
            lines.append("# HELP faultdrill_toxiproxy_build_info Extension: server build information")
            lines.append("# TYPE faultdrill_toxiproxy_build_info gauge")
            lines.append(f'faultdrill_toxiproxy_build_info{{version="{_escape(self.version)}"}} 1')
        return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, help_text: str, values: dict[LinkLabels, int]) -> None:
    if not values:
        return
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} counter")
    for labels in sorted(values, key=lambda lb: (lb.direction, lb.listener, lb.proxy, lb.upstream)):
        lines.append(f"{name}{{{labels.render()}}} {values[labels]}")
