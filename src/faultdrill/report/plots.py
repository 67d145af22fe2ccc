"""The panels a report shows: load, client profiles, app and DB metrics (connections, CPU, memory
and pids are in ``resource_plots.py``).

Each plot is a :class:`Panel`: a title and a function that draws on an ``Axes``. The same
panels are written one PNG each (``latency.png``, ``throughput.png``, …) and stacked into
``dashboard.png``; every panel spans the same x-range, ``0 … duration`` seconds of run time.
A panel whose data is absent is left out, with the reason, in :attr:`PanelSet.skipped`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from faultdrill.histograms import LoadSecond, percentile_ms
from faultdrill.report.data import ConnCountRow, DbRow, MetricRow, ProfileRow, RunData, group_by
from faultdrill.report.drawing import (
    APP_SERIES_SHOWN,
    ERROR_KINDS_SHOWN,
    SKIPPED_METRIC,
    Draw,
    Panel,
    PanelSet,
    Point,
    Skipped,
    _mid,
    _plot,
    counter_rates,
    is_counter,
    latency_axis,
    relevance,
    service_colours,
    slug,
)
from faultdrill.report.ingress_plots import both_sides_panel
from faultdrill.report.resource_plots import connections_panels, resource_panels


def latency_panel(seconds: Sequence[LoadSecond]) -> Panel:
    """p50/p95/p99 of the successful requests, and p95 of all of them (failures included) dotted:
    fast failures pull the second line down, never the first."""
    totals = [(s, s.total()) for s in seconds]
    curves = {pct: [(_mid(s), percentile_ms(tot.ok_hist, pct)) for s, tot in totals] for pct in (50, 95, 99)}
    all_p95 = [(_mid(s), percentile_ms(tot.hist, 95)) for s, tot in totals]
    values = [v for points in (*curves.values(), all_p95) for _, v in points if v is not None]
    silent = [_mid(s) for s, tot in totals if s.users > 0 and tot.count == 0]
    only_failures = [_mid(s) for s, tot in totals if tot.count > 0 and tot.failures == tot.count]

    def draw(ax: Axes) -> None:
        for pct, style, colour in ((50, "-", "#1f77b4"), (95, "-", "#ff7f0e"), (99, "-", "#2ca02c")):
            _plot(ax, curves[pct], ls=style, lw=1.4, color=colour, label=f"p{pct} successful")
        if any(tot.failures for _, tot in totals):
            _plot(ax, all_p95, ls=":", lw=1.3, color="#555555", label="p95 all requests (failures included)")
        log = latency_axis(ax, values)
        floor = min(values) if (log and values) else 0.0
        if silent:
            ax.plot(silent, [floor] * len(silent), "|", color="#d62728", ms=12, mew=2, clip_on=False,
                    label="no response completed")
        if only_failures:
            ax.plot(only_failures, [floor] * len(only_failures), "x", color="#d62728", ms=5, clip_on=False,
                    label="every request failed")

    return Panel("latency", "Latency of successful requests (true per-second percentiles); dotted: all requests",
                 draw, 1.3)


def throughput_panel(seconds: Sequence[LoadSecond]) -> Panel:
    ts = [_mid(s) for s in seconds]
    totals = [s.total() for s in seconds]
    ok = [t.count - t.failures for t in totals]
    failed = [t.failures for t in totals]

    def draw(ax: Axes) -> None:
        ax.bar(ts, ok, width=1.0, color="#2ca02c", label="ok / s", lw=0)
        ax.bar(ts, failed, width=1.0, bottom=ok, color="#d62728", label="failed / s", lw=0)
        ax.set_ylabel("requests / s")

    return Panel("throughput", "Throughput: completed requests per second", draw)


def errors_panel(seconds: Sequence[LoadSecond]) -> Panel | Skipped:
    per_second = [(_mid(s), s.total().errors) for s in seconds]
    totals: dict[str, int] = {}
    for _, errors in per_second:
        for kind, n in errors.items():
            totals[kind] = totals.get(kind, 0) + n
    if not totals:
        return Skipped("errors", "no request failed")
    ranked = sorted(totals, key=lambda k: -totals[k])
    shown = ranked[:ERROR_KINDS_SHOWN]
    rest = ranked[ERROR_KINDS_SHOWN:]

    def draw(ax: Axes) -> None:
        ts = [t for t, _ in per_second]
        bottom = [0.0] * len(ts)
        cmap = plt.get_cmap("Set1")
        kinds = shown + (["other"] if rest else [])
        for i, kind in enumerate(kinds):
            values = [float(sum(e.get(k, 0) for k in rest)) if kind == "other" else float(e.get(kind, 0))
                      for _, e in per_second]
            label = kind if len(kind) <= 48 else kind[:45] + "…"
            ax.bar(ts, values, width=1.0, bottom=bottom, color=cmap(i % 9), lw=0,
                   label=f"{label} ({sum(values):.0f})")
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylabel("failures / s")

    return Panel("errors", "Failures by kind (stacked)", draw)


def open_model_panel(seconds: Sequence[LoadSecond]) -> Panel | None:
    """The open model's own honesty: arrivals due vs sent, dropped and late, and the worst schedule lag."""
    opens = [(s.t + 0.5, s.open) for s in seconds if s.open is not None]
    if not opens:
        return None

    def draw(ax: Axes) -> None:
        ts = [t for t, _ in opens]
        ax.plot(ts, [o.intended for _, o in opens], color="#1f77b4", lw=1.4, label="arrivals due / s")
        ax.plot(ts, [o.sent for _, o in opens], color="#2ca02c", lw=1.2, ls="--", label="sent / s")
        planned = [(s.t + 0.5, s.planned) for s in seconds if s.open is not None and s.planned is not None]
        if planned:  # what the shape asked for: a lost load worker's arrivals are neither due nor sent
            ax.plot([t for t, _ in planned], [p for _, p in planned], color="#7f7f7f", lw=1.0, ls=":",
                    label="planned by the shape / s")
        ax.bar(ts, [o.dropped for _, o in opens], width=1.0, color="#d62728", alpha=0.7, lw=0,
               label=f"dropped / s ({sum(o.dropped for _, o in opens):,} in all)")
        ax.bar(ts, [o.late for _, o in opens], width=1.0, color="#ff7f0e", alpha=0.6, lw=0,
               label=f"late / s ({sum(o.late for _, o in opens):,} in all)")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("arrivals / s")
        lag = ax.twinx()
        lag.plot(ts, [o.lag_ms for _, o in opens], color="#9467bd", lw=1.0, ls=":")
        lag.set_ylim(bottom=0)
        lag.set_ylabel("worst lag (ms, dotted)", color="#9467bd", fontsize=8)

    return Panel("open-model", "Open model: arrivals due vs sent; dropped (never sent) and late", draw)


def users_panel(seconds: Sequence[LoadSecond]) -> Panel:
    points = [(float(s.t), float(s.users)) for s in seconds]

    planned = [(float(s.t), s.planned) for s in seconds if s.open is None and s.planned is not None]

    def draw(ax: Axes) -> None:
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", color="#17becf", lw=1.4,
                label="users")
        if planned:  # closed model: the shape's users, to see a lost worker's users missing
            ax.step([p[0] for p in planned], [p[1] for p in planned], where="post", color="#7f7f7f", lw=1.0,
                    ls=":", label="planned by the shape")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("users")

    return Panel("users", "Simulated users", draw, 0.7)


def profiles_panel(rows: Sequence[ProfileRow]) -> Panel | None:
    if len({r.profile for r in rows}) < 2:  # one profile: the same as 1 − error rate
        return None
    by_profile = group_by(rows, "profile")
    curves: dict[str, list[Point]] = {}
    for (profile,), items in sorted(by_profile.items()):
        per_t: dict[float, list[float]] = {}
        for r in items:
            acc = per_t.setdefault(r.t, [0.0, 0.0])
            acc[0] += r.requests
            acc[1] += r.failures
        curves[profile] = [(t + 0.5, 100.0 * (n - f) / n if n else None) for t, (n, f) in sorted(per_t.items())]

    def draw(ax: Axes) -> None:
        for profile, points in curves.items():
            _plot(ax, points, lw=1.4, marker=".", ms=3, label=profile)
        ax.set_ylim(-2, 102)
        ax.set_ylabel("success %")

    return Panel("profiles", "Success rate by client profile", draw)


def conn_counts_panel(rows: Sequence[ConnCountRow]) -> Panel | None:
    """Requests sent vs connections that reached the target, per client profile: the gap that
    shows clients failing before the web tier ever sees them (e.g. a TLS policy change)."""
    if not rows or not any(r.connects or r.failed_connects for r in rows):
        return None
    by_profile = {k[0]: sorted(v, key=lambda r: r.t) for k, v in group_by(rows, "profile").items()}
    colours = service_colours(list(by_profile))

    def draw(ax: Axes) -> None:
        for profile, items in sorted(by_profile.items()):
            colour = colours[profile]
            _plot(ax, [(r.t + 0.5, r.requests) for r in items], lw=1.4, color=colour, label=f"{profile} requests")
            _plot(ax, [(r.t + 0.5, r.connects) for r in items], lw=1.2, ls="--", color=colour,
                  label=f"{profile} connections")
            if any(r.failed_connects for r in items):
                _plot(ax, [(r.t + 0.5, r.failed_connects) for r in items], lw=1.2, ls=":", color=colour,
                      label=f"{profile} failed connects/TLS")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("per second")

    return Panel("client-connections", "Requests sent vs connections made, by client profile", draw)


def app_metric_series(rows: Sequence[MetricRow]) -> dict[str, list[tuple[str, list[Point]]]]:
    """Per service, its most relevant series: gauges as values, counters as per-second rates."""
    out: dict[str, list[tuple[str, list[Point]]]] = {}
    for (service,), items in sorted(group_by(rows, "service").items()):
        scored = []
        for (metric, labels), points in group_by(items, "metric", "labels").items():
            if SKIPPED_METRIC.search(metric):
                continue
            raw = sorted((r.t, r.value) for r in points)
            series: list[Point] = counter_rates(raw) if is_counter(metric) else list(raw)
            name = metric + (" /s" if is_counter(metric) else "") + (f" {{{labels}}}" if labels else "")
            scored.append((relevance(metric, [v for _, v in series]), name, series))
        scored.sort(key=lambda x: (-x[0], x[1]))
        chosen = [(name, series) for score, name, series in scored if score >= 0][:APP_SERIES_SHOWN]
        if chosen:
            out[service] = chosen
    return out


def _span(series: Sequence[Point]) -> float:
    known = [abs(v) for _, v in series if v is not None]
    return max(known) if known else 0.0


def app_panels(rows: Sequence[MetricRow]) -> list[Panel]:
    panels = []
    for service, chosen in app_metric_series(rows).items():
        def draw(ax: Axes, chosen: list[tuple[str, list[Point]]] = chosen) -> None:
            for name, series in chosen:
                label = name if len(name) <= 60 else name[:57] + "…"
                _plot(ax, series, lw=1.3, label=label)
            peaks = [p for p in (_span(s) for _, s in chosen) if p > 0]
            if peaks and max(peaks) / min(peaks) > 100:
                ax.set_yscale("symlog", linthresh=max(min(peaks) / 2, 1e-6))
                ax.set_ylabel("value (symlog)")
            else:
                ax.set_ylabel("value")

        panels.append(Panel(f"app-{slug(service)}", f"App metrics: {service} (counters as rates /s)", draw))
    return panels


SESSION_PREFIX = "sessions_"


def db_panels(rows: Sequence[DbRow]) -> list[Panel]:
    """Per database: sessions by state; the longest open transaction; rates (``*_per_s`` columns)."""
    panels = []
    for (service,), items in sorted(group_by(rows, "service").items()):
        items = sorted(items, key=lambda r: r.t)
        numeric = [c for c, _ in items[0].values if any(r.get(c) is not None for r in items)]
        sessions = [c for c in numeric if c.startswith(SESSION_PREFIX)]
        rates = [c for c in numeric if c.endswith("_per_s")]
        key = f"db-{slug(service)}"
        if sessions:
            panels.append(Panel(key, f"Database {service}: sessions by state",
                                _lines(items, sessions, "sessions", strip=SESSION_PREFIX)))
        if "longest_tx_s" in numeric:
            panels.append(Panel(f"{key}-longest-tx", f"Database {service}: longest open transaction",
                                _lines(items, ["longest_tx_s"], "seconds"), 0.6))
        if rates:
            panels.append(Panel(f"{key}-rates", f"Database {service}: rates", _lines(items, rates, "per second"),
                                0.8))
    return panels


def _lines(items: Sequence[DbRow], columns: Sequence[str], ylabel: str, strip: str = "") -> Draw:
    def draw(ax: Axes) -> None:
        for c in columns:
            _plot(ax, [(r.t, r.get(c)) for r in items], lw=1.4, label=c[len(strip):] if c.startswith(strip) else c)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(ylabel)

    return draw


# --------------------------------------------------------------------------- choosing the panels
def build_panels(data: RunData) -> PanelSet:
    """Every panel this run has data for, in dashboard order; and why each other one is missing."""
    out = PanelSet()
    seconds = data.seconds
    colours = service_colours(data.services())

    def add(item: Panel | Skipped | None) -> None:
        if isinstance(item, Panel):
            out.panels.append(item)
        elif isinstance(item, Skipped):
            out.skipped.append(item)

    if seconds:
        add(latency_panel(seconds))
        add(throughput_panel(seconds))
        add(errors_panel(seconds))
        add(open_model_panel(seconds))
        add(users_panel(seconds))
    else:
        add(Skipped("latency", "no load was recorded (histograms.jsonl is missing or empty)"))
    add(profiles_panel(data.profiles))
    add(conn_counts_panel(data.conn_counts))
    add(both_sides_panel(data.conn_counts, data.ingress))
    optional: tuple[tuple[str, Sequence[object], Callable[[], list[Panel]]], ...] = (("connections.csv", data.connections, lambda: connections_panels(data.connections, colours)),
                ("resources.csv", data.resources,
                 lambda: resource_panels(data.resources, colours, (data.run_info.get("host") or {}).get("cpus"))),
                ("app_metrics.csv", data.app_metrics, lambda: app_panels(data.app_metrics)),
                ("db.csv", data.db, lambda: db_panels(data.db)))
    for filename, rows, make in optional:
        key = filename.split(".")[0].replace("_", "-")
        if not rows:
            why = "has no samples" if filename in data.present else "was not recorded"
            add(Skipped(key, f"{filename} {why}"))
            continue
        made = make()
        if not made:
            add(Skipped(key, f"{filename} has no series worth plotting"))
        for panel in made:
            add(panel)
    return out
