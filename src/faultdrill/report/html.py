"""``report.html``: one self-contained page (inline CSS and script, PNGs as data URIs, no fetches) for a person.

Sections: header and verdict, the story figure ("what happened": interactive, ``interactive.py``),
checks and time to detect/recover, the detail charts grouped by what to watch (usage and saturation,
latency, errors), windows, faults (planned vs real), provenance (from ``run.json``), then the static
PNG plots (the same ones ``summary.md`` and PR comments use), folded.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from faultdrill.report import format as fmt
from faultdrill.report.chart_model import Figure
from faultdrill.report.drawing import PlotFile

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(ms=fmt.ms, rate=fmt.rate, num=fmt.number, secs=fmt.seconds, window=fmt.window_label,
                       bound=fmt.bound, target=fmt.check_target, mark=fmt.check_mark, spans=fmt.spans,
                       fault_end=fmt.fault_end, detection_note=fmt.detection_note)
    env.globals.update(metric_value=fmt.metric_value, window_sort_key=fmt.window_sort_key)
    return env


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def provenance(run_info: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts of where and with what a run ran, as label/value rows (from run.json)."""
    scenario = run_info.get("scenario") or {}
    host = run_info.get("host") or {}
    toxiproxy = run_info.get("toxiproxy") or {}
    versions = run_info.get("versions") or {}
    rows = [
        ("scenario file", scenario.get("path")),
        ("scenario sha256", scenario.get("sha256")),
        ("started", run_info.get("started")),
        ("ended", run_info.get("ended")),
        ("git sha", run_info.get("git_sha")),
        ("host", " · ".join(str(v) for v in (host.get("hostname"), host.get("platform"),
                                              f"{host['cpus']} CPUs" if host.get("cpus") else None) if v)),
        ("Toxiproxy", " · ".join(str(v) for v in (toxiproxy.get("kind"), toxiproxy.get("image")) if v)),
        ("compose file", (run_info.get("stack") or {}).get("source")),
        ("proxies", proxy_wiring((run_info.get("stack") or {}).get("wiring") or [])),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)),
        ("command", " ".join(str(a) for a in run_info.get("argv") or [])),
    ]
    return [(k, str(v)) for k, v in rows if v]


def proxy_wiring(wiring: Sequence[dict[str, Any]]) -> str:
    """Who reaches what through which proxy: "api → cache:11211 (proxy cache, transparent) → cache"."""
    parts = []
    for wire in wiring:
        clients = ", ".join(wire.get("clients") or []) or "(no declared client)"
        how = "transparent" if wire.get("transparent") else "by its proxy address"
        parts.append(f"{clients} → {wire.get('address')} (proxy {wire.get('proxy')}, {how}) → {wire.get('service')}")
    return "; ".join(parts)


def render_html(summary: dict[str, Any], run_info: dict[str, Any], plots: Sequence[PlotFile],
                skipped_panels: Sequence[str] = (), problems: Sequence[str] = (), *, status: str | None = None,
                description: str = "", story: Figure | None = None, details: Sequence[Figure] = ()) -> str:
    from faultdrill.report.figure_png import marker_lines
    from faultdrill.report.interactive import charts_payload, inline_assets

    figures = ([story] if story is not None else []) + list(details)
    windows = sorted(summary.get("windows", {}).items(), key=fmt.window_sort_key)
    requests = {name: sorted(per.items(), key=fmt.window_sort_key)
                for name, per in sorted(summary.get("requests", {}).items())}
    problems = list(problems) + [str(p) for p in run_info.get("problems") or []]
    return environment().get_template("report.html.j2").render(
        s=summary,
        status=status or summary.get("status"),
        description=description,
        verdict=fmt.verdict_line(summary),
        windows=windows,
        open_model=any(w.get("intended") is not None for _, w in windows),
        requests=requests,
        provenance=provenance(run_info),
        plots=[(p.key, p.title, data_uri(p.path)) for p in plots if p.key != "dashboard"],
        skipped_panels=list(skipped_panels),
        problems=problems,
        story=story,
        story_markers=marker_lines(story) if story is not None else [],
        details=[(f, [c for c in f.charts if not c.empty()]) for f in details],
        charts_payload=charts_payload(figures) if figures else "",
        chart_assets=inline_assets() if figures else "",
    )
