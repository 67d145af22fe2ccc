"""Prometheus text exposition for ``/metrics`` (spec §2.14) plus our extensions.

Standard series (only with ``proxy_metrics``), exactly as Toxiproxy counts them:
``toxiproxy_proxy_received_bytes_total`` / ``toxiproxy_proxy_sent_bytes_total``
with labels direction, listener, proxy, upstream, added **when a link ends**.

Extensions (``faultdrill_`` prefix, read-only, documented in the package
docstring): live byte counters, which include the bytes of links still
streaming, and per-proxy active and total connection counts.

The data path only increments its links' own counters; the live series are
summed from the open links when ``/metrics`` is read, so moving a chunk costs
no metrics call. With several data-plane processes, each one's ``Counts`` are
added to the API process's before rendering.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CONTENT_TYPE", "Counts", "LinkLabels", "Metrics"]

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

    def totals(self) -> tuple[int, int]:
        """(received, sent) so far, bytes moved outside Python included."""


@dataclass
class Counts:
    """One process's counters, in a form another process can add to its own."""

    received: dict[LinkLabels, int] = field(default_factory=dict)
    sent: dict[LinkLabels, int] = field(default_factory=dict)
    live_received: dict[LinkLabels, int] = field(default_factory=dict)
    live_sent: dict[LinkLabels, int] = field(default_factory=dict)
    connections_total: dict[str, int] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)

    _BY_LABELS = ("received", "sent", "live_received", "live_sent")
    _BY_PROXY = ("connections_total", "active")

    def add(self, other: Counts) -> None:
        for name in self._BY_LABELS + self._BY_PROXY:
            mine, theirs = getattr(self, name), getattr(other, name)
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {name: [[*_label_values(k), v] for k, v in getattr(self, name).items()]
                                  for name in self._BY_LABELS}
        out.update({name: dict(getattr(self, name)) for name in self._BY_PROXY})
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Counts:
        counts = cls()
        for name in cls._BY_LABELS:
            setattr(counts, name, {LinkLabels(*row[:4]): int(row[4]) for row in value.get(name, [])})
        for name in cls._BY_PROXY:
            setattr(counts, name, {str(k): int(v) for k, v in value.get(name, {}).items()})
        return counts


def _label_values(labels: LinkLabels) -> tuple[str, str, str, str]:
    return labels.direction, labels.listener, labels.proxy, labels.upstream


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
        index = ("received", "sent").index(attribute)
        totals = dict(ended)
        for labels, links in self._open.items():
            totals[labels] = totals.get(labels, 0) + sum(link.totals()[index] for link in links)
        return totals

    def counts(self, proxies: Iterable[ProxyGauge] = ()) -> Counts:
        """This process's counters (``proxies``: its open connections by proxy)."""
        return Counts(dict(self.received), dict(self.sent), self.live_received, self.live_sent,
                      dict(self.connections_total), {p.name: p.active_connections for p in proxies})

    def render(self, proxies: Iterable[ProxyGauge], others: Iterable[Counts] = ()) -> str:
        """The exposition; ``others``: the counters of the other data-plane processes, added in."""
        gauges = sorted(proxies, key=lambda p: p.name)
        total = self.counts(gauges)
        for counts in others:
            total.add(counts)
        lines: list[str] = []
        if self.proxy_metrics:
            _counter(lines, "toxiproxy_proxy_received_bytes_total",
                     "The number of bytes received from the client", total.received)
            _counter(lines, "toxiproxy_proxy_sent_bytes_total",
                     "The number of bytes sent to the client", total.sent)
            _counter(lines, "faultdrill_proxy_live_received_bytes_total",
                     "Extension: bytes read from a side of a proxy, counted while streaming",
                     total.live_received)
            _counter(lines, "faultdrill_proxy_live_sent_bytes_total",
                     "Extension: bytes written to a side of a proxy, counted while streaming",
                     total.live_sent)
        lines.append("# HELP faultdrill_proxy_active_connections Extension: open proxied connections")
        lines.append("# TYPE faultdrill_proxy_active_connections gauge")
        for gauge in gauges:
            active = total.active.get(gauge.name, 0)
            lines.append(f'faultdrill_proxy_active_connections{{proxy="{_escape(gauge.name)}"}} {active}')
        lines.append("# HELP faultdrill_proxy_connections_total Extension: accepted and proxied connections")
        lines.append("# TYPE faultdrill_proxy_connections_total counter")
        for name in sorted(total.connections_total):
            lines.append(f'faultdrill_proxy_connections_total{{proxy="{_escape(name)}"}} {total.connections_total[name]}')
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
