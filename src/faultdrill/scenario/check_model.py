"""The ``checks`` and ``abort`` sections: SLOs judged over windows, and when to stop a drill early.

A metric is either a load metric (``p95_ms``, ``error_rate``, …, optionally for one ``request``)
or a recorded series named ``SOURCE.NAME.FIELD``:

* ``resources.SERVICE.cpu_pct|mem_bytes|pids|net_rx_bytes|…``
* ``connections.SERVICE[.inbound|.outbound][.STATE]`` (default: all directions, open = ESTABLISHED + CLOSE_WAIT)
* ``app.SERVICE.METRIC`` (a Prometheus series the service exposes; summed over labels)
* ``db.SERVICE.sessions_waiting_lock|longest_tx_s|commits_per_s|…``
* ``proxy.PROXY.bytes_up|bytes_down|connections``
* ``ingress.SERVICE.accepted_per_s|requests_per_s|handled_per_s|active|…`` (nginx ``stub_status:``)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from faultdrill.scenario.common import Seconds, Strict

CONN_METRICS = ("connects", "connect_errors", "tls_errors")  # client side, per client profile
OPEN_METRICS = ("intended", "dropped", "late", "lag_ms")  # the open model's own honesty record, per second
# delivered / planned each second: arrivals sent vs the shape's (open), users running vs the shape's (closed);
# it drops when a load worker is lost or the generator cannot keep up
DELIVERY_METRICS = ("load_delivered_ratio",)
LATENCY_METRICS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")
LOAD_METRICS = (LATENCY_METRICS + ("error_rate", "rps", "requests", "failures", "users") + CONN_METRICS + OPEN_METRICS
                + DELIVERY_METRICS)
PERCENTILE_METRICS = {"p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0}
SERIES_SOURCES = ("resources", "connections", "app", "db", "proxy", "ingress")
SERIES_RE = re.compile(r"^(resources|connections|app|db|proxy|ingress)\.([a-z][a-z0-9_-]*)(\.[A-Za-z_:][A-Za-z0-9_:.]*)?$")
WindowName = Literal["baseline", "ramp", "fault", "recovery", "run"]
Aggregate = Literal["auto", "max", "min", "mean", "last", "p50", "p90", "p95", "p99"]


def metric_problem(metric: str) -> str | None:
    if metric in LOAD_METRICS or SERIES_RE.match(metric):
        return None
    return (f"unknown metric {metric!r}; use a load metric ({', '.join(LOAD_METRICS)}) or a recorded "
            "series: resources.SERVICE.FIELD, connections.SERVICE[.DIRECTION][.STATE], app.SERVICE.METRIC, "
            "db.SERVICE.FIELD, proxy.PROXY.FIELD, ingress.SERVICE.FIELD")


class Span(Strict):
    """An explicit window in run time: ``{from: 30s, to: 60s}``."""

    from_: Seconds = Field(alias="from")
    to: Seconds

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.to <= self.from_:
            raise ValueError(f"to ({self.to:g}s) must be after from ({self.from_:g}s)")
        return self


class _Bounded(Strict):
    metric: str
    request: str | None = Field(None, description="limit to one request name, e.g. 'GET /events/{id}'")
    profile: str | None = Field(None, description="limit to one client profile (load.profiles)")
    max: float | None = None
    min: float | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        problem = metric_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _has_bound(self) -> _Bounded:
        if self.max is None and self.min is None:
            raise ValueError("give a bound: max, min, or both")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g}): nothing could pass")
        if (self.request is not None or self.profile is not None) and self.metric not in LOAD_METRICS:
            raise ValueError("request and profile apply to load metrics only")
        if self.request is not None and self.metric in OPEN_METRICS:
            raise ValueError(f"{self.metric} counts arrivals, not requests: drop 'request'")
        if (self.request is not None or self.profile is not None) and self.metric in DELIVERY_METRICS:
            raise ValueError(f"{self.metric} is the whole load's delivery: drop 'request' and 'profile'")
        return self

    def ok(self, value: float) -> bool:
        return (self.max is None or value <= self.max) and (self.min is None or value >= self.min)


class Check(_Bounded):
    """An SLO: ``metric`` within bounds over ``window``.

    Without ``sustained``, the window's aggregate is judged (``auto``: the true percentile over all
    requests for pNN_ms, the overall ratio for error_rate, the mean for rates, the max otherwise).
    With ``sustained``, the check fails when the per-second series breaches the bound for that long
    without a break. Either way, detection and recovery times are measured per fault.
    """

    name: str = Field(min_length=1, max_length=120)
    window: WindowName | str | Span = "run"
    aggregate: Aggregate = "auto"
    sustained: Seconds | None = Field(None, description="a breach counts only if it lasts this long, e.g. 5s")
    guard: bool = Field(False, description="abort the drill when this check breaches (sustained) during the run")
    latency_of: Literal["successful", "all"] = Field(
        "successful", description="latency metrics: successful requests only (default), or all of them")
    expect: bool | None = Field(
        None, description="true: this check confirms a fault shows (an expectation), not an SLO that must "
                          "hold; default: true for a min-only bound judged in one fault's own window")

    def is_expectation(self, fault_names: Sequence[str]) -> bool:
        """An expectation ("the toxic shows") gets no detection/recovery rows against other faults."""
        if self.expect is not None:
            return self.expect
        return isinstance(self.window, str) and self.window in fault_names and self.max is None


class Abort(_Bounded):
    """Stop the drill early when ``metric`` breaches its bound for ``sustained`` (AWS FIS-style stop condition)."""

    name: str = Field(min_length=1, max_length=120)
    sustained: Seconds = 10.0
    after: Seconds = Field(0.0, description="ignore the first seconds of the run (warm-up)")
