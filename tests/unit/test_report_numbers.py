"""Issue 12, "numbers you can trust": what the plots draw is what was recorded — no invented zeros,
no partial sums, stale samples as gaps, capacity lines that say whose capacity — and gaps in the
recording are said near the top of the report."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pytest

from faultdrill.report.data import parse_connections
from faultdrill.report.plots import connections_panels


def drawn(panel_draw) -> dict[str, list[tuple[float, float]]]:
    """What a panel really plots: {legend label: [(x, y), …]} with NaN for a gap."""
    fig, ax = plt.subplots()
    try:
        panel_draw(ax)
        return {line.get_label(): list(zip(map(float, line.get_xdata()), map(float, line.get_ydata())))
                for line in ax.get_lines() if not line.get_label().startswith("_")}
    finally:
        plt.close(fig)


def values(points: Sequence[tuple[float, float]]) -> list[float | None]:
    return [None if math.isnan(y) else y for _, y in points]


CONNECTIONS = """t,wall,service,direction,endpoint,state,count
1.000,w,ingress,inbound,8443,ESTABLISHED,150
1.000,w,ingress,inbound,8443,TIME_WAIT,3000
1.000,w,app,inbound,8000,ESTABLISHED,40
1.000,w,app,inbound,8000,TIME_WAIT,900
1.000,w,app,outbound,proxy.mail,ESTABLISHED,12
2.000,w,ingress,inbound,8443,ESTABLISHED,152
2.000,w,ingress,inbound,8443,TIME_WAIT,3100
3.000,w,ingress,inbound,8443,ESTABLISHED,149
3.000,w,ingress,inbound,8443,TIME_WAIT,3329
3.000,w,app,inbound,8000,ESTABLISHED,41
3.000,w,app,inbound,8000,TIME_WAIT,770
3.000,w,app,outbound,proxy.mail,ESTABLISHED,0
"""


def test_a_service_without_a_sample_at_a_tick_is_a_gap_in_its_line_not_a_zero() -> None:
    connections, _states = connections_panels(parse_connections(CONNECTIONS), {})
    lines = drawn(connections.draw)
    assert values(lines["ingress inbound"]) == [150, 152, 149]  # sampled every tick: no zig-zag to 0
    assert values(lines["app inbound"]) == [40, None, 41]  # app had no sample at t=2: a gap
    assert values(lines["app outbound"]) == [12, None, 0]  # 0 at t=3 is real: app was sampled, none open


def test_other_states_are_totals_of_every_service_and_unknown_where_one_is_missing() -> None:
    _connections, states = connections_panels(parse_connections(CONNECTIONS), {})
    assert "total of all services" in states.title
    lines = drawn(states.draw)
    assert values(lines["TIME_WAIT"]) == [3900, None, 4099]  # t=2 would be ingress alone: unknown, not 3100


def test_series_for_checks_and_aborts_add_up_per_tick_and_skip_a_tick_without_a_sample(tmp_path) -> None:
    from faultdrill.recorder.points import read_samples

    (tmp_path / "connections.csv").write_text(CONNECTIONS, encoding="utf-8")
    series = read_samples(tmp_path)
    assert series["connections.app"] == [(1.0, 52.0), (3.0, 41.0)]  # in + out at t=1; no point at t=2
    assert series["connections.ingress.inbound.TIME_WAIT"] == [(1.0, 3000.0), (2.0, 3100.0), (3.0, 3329.0)]


# --------------------------------------------------------------------------- CPU capacity and stale samples
RESOURCES_HEADER = ("t,wall,service,cpu_pct,cpu_limit,host_cpus,mem_bytes,mem_limit_bytes,pids,pids_limit,"
                    "net_rx_bytes,net_tx_bytes,restarts,oom_killed\n")


def cpu_panel(text: str, run_json_cpus: float | None = None):  # type: ignore[no-untyped-def]
    from faultdrill.report.data import parse_resources
    from faultdrill.report.resource_plots import resource_panels

    return next(p for p in resource_panels(parse_resources(text), {}, run_json_cpus) if p.key == "cpu")


def test_the_capacity_line_is_half_of_the_hosts_cores_and_says_so() -> None:
    text = RESOURCES_HEADER + "".join(f"{t},w,{s},{c},,2,1,,1,,,,0,0\n" for t in (1, 2) for s, c in
                                      (("app", 90), ("db", 30)))
    panel = cpu_panel(text)
    lines = drawn(panel.draw)
    assert {label: {y for _, y in pts} for label, pts in lines.items() if label.startswith("50 %")} == {
        "50 % of the host's 2 cores": {100.0}}  # half of two cores = one core = 100 % on this axis
    assert "100 % = one core" in panel.title


def test_each_service_gets_the_capacity_line_of_its_own_cpu_limit() -> None:
    text = RESOURCES_HEADER + "".join(f"{t},w,{s},50,{limit},2,1,,1,,,,0,0\n" for t in (1, 2) for s, limit in
                                      (("app", 1.5), ("db", ""), ("mail", "")))
    lines = drawn(cpu_panel(text).draw)
    capacity = {label: {y for _, y in pts} for label, pts in lines.items() if label.startswith("50 %")}
    assert capacity == {"50 % of app's 1.5-CPU limit": {75.0}, "50 % of the host's 2 cores (db, mail)": {100.0}}


def test_without_host_cores_in_the_file_run_jsons_host_is_used() -> None:
    text = RESOURCES_HEADER + "1,w,app,20,,,1,,1,,,,0,0\n"
    lines = drawn(cpu_panel(text, run_json_cpus=4).draw)
    assert [label for label in lines if label.startswith("50 %")] == ["50 % of the host's 4 cores"]


def test_a_stale_sample_is_a_gap_in_the_cpu_line_not_a_value() -> None:
    text = RESOURCES_HEADER + "1,w,app,40,,2,1,,1,,,,0,0\n2,w,app,,,2,,,,,,,0,0\n3,w,app,42,,2,1,,1,,,,0,0\n"
    assert values(drawn(cpu_panel(text).draw)["app"]) == [40, None, 42]


# --------------------------------------------------------------------------- gaps, near the top
GAP = ("db[db] sampler: no data from t=65 s to t=120 s (55 ticks): "
       "OperationalError: FATAL: remaining connection slots are reserved for superuser")


@pytest.mark.usefixtures("no_drawing")  # the text of the report, not its figures
def test_a_sampler_gap_in_run_json_is_shown_near_the_top_of_the_html_and_the_markdown(tmp_path) -> None:
    import json

    from faultdrill.report.sample import write_sample_run
    from faultdrill.report.summary import render_all

    run_dir, scenario = write_sample_run(tmp_path / "run")
    info = json.loads(run_dir.run_json.read_text()) if run_dir.run_json.is_file() else {}
    run_dir.run_json.write_text(json.dumps({**info, "problems": [GAP]}), encoding="utf-8")
    render_all(run_dir, scenario, "completed")
    markdown = (run_dir.path / "summary.md").read_text()
    assert "### Problems in this run" in markdown and GAP in markdown
    assert markdown.index(GAP) < markdown.index("### Checks")
    html = (run_dir.path / "report.html").read_text()
    assert "Problems in this run" in html and html.index("55 ticks") < html.index('id="checks"')
