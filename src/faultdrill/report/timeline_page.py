"""``timeline.html``: the run's timeline as one page — faults, checks, alerts and the people's marks
(with their names) on the run clock and the wall clock — linked from ``report.html`` (pure: events in,
HTML out; every text escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from faultdrill.gameday.retrospective import timeline_rows

STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem auto;max-width:60rem;color:#1f2328;padding:0 1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eaeef2;
vertical-align:top}td.t{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.mark td{color:#6f42c1;font-weight:600}tr.breach td{color:#cf222e}tr.fault td{color:#9a6700}
.who{font-weight:700}p.help{color:#57606a}"""


def _row_class(what: str) -> str:
    if what.startswith("responders:"):
        return "mark"
    if what.startswith(("check breached", "alert fired")):
        return "breach"
    return "fault" if what.startswith("fault") else ""


def _bold(text: str) -> str:
    """The retrospective's ``**x**`` as <b>x</b>, on escaped text."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def render_timeline(summary: dict[str, Any], events: Sequence[dict[str, Any]], scenario_name: str) -> str:
    rows = timeline_rows(list(events))
    marks = [e for e in events if e.get("kind") == "annotation" and e.get("t") is not None]
    run_id = html.escape(str(summary.get("run_id", "")))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>timeline: {html.escape(scenario_name)} — {run_id}</title><style>{STYLE}</style></head><body>",
           f"<h1>Timeline — {html.escape(scenario_name)}</h1>",
           f'<p>Run <code>{run_id}</code> · <a href="report.html">report</a> · status '
           f"{html.escape(str(summary.get('status', '?')))}</p>",
           '<p class="help">Every moment that mattered, on the run clock (0 = load start) and the wall clock: '
           "faults, checks breached and recovered, alerts, and the marks people made, with their names.</p>",
           '<table id="timeline"><thead><tr><th>t</th><th>wall clock</th><th>what</th></tr></thead><tbody>']
    for t, wall, what in rows:
        clock = wall[11:19] if len(wall) >= 19 else wall
        out.append(f'<tr class="{_row_class(what)}"><td class="t">{t:.0f} s</td><td>{html.escape(clock)}</td>'
                   f"<td>{_bold(what)}</td></tr>")
    if not rows:
        out.append('<tr><td colspan="3">nothing was recorded</td></tr>')
    out.append("</tbody></table>")
    if marks:
        out += ["<h2>Marks</h2>", '<table id="marks"><thead><tr><th>t</th><th>who</th><th>mark</th><th>note</th>'
                "</tr></thead><tbody>"]
        for e in marks:
            out.append(f'<tr><td class="t">{float(e["t"]):.0f} s</td><td class="who">'
                       f"{html.escape(str(e.get('by') or '—'))}</td><td>{html.escape(str(e.get('annotation')))}</td>"
                       f"<td>{html.escape(str(e.get('text') or ''))}</td></tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out)
