"""The ingress's side of a drill: nginx stub_status parsing, the sampler (with a fake session), the
per-second rates from its counters, ingress.csv reading, the both-sides panel and the scenario field."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from faultdrill.analysis.ingress import counter_rates, ingress_rates, mean_rate
from faultdrill.recorder.samplers.base import SamplerUnavailable
from faultdrill.recorder.samplers.ingress import IngressSampler, parse_stub_status, stub_status_url
from faultdrill.report.data import ConnCountRow, IngressRow, parse_ingress
from faultdrill.report.ingress_plots import both_sides_panel, tick_step
from faultdrill.scenario.model import Service, StubStatus

PAGE = "Active connections: 7 \nserver accepts handled requests\n 1520 1519 3012 \nReading: 1 Writing: 4 Waiting: 2 \n"


def test_stub_status_page_parses_into_counters_and_gauges() -> None:
    assert parse_stub_status(PAGE) == {"accepted": 1520, "handled": 1519, "requests": 3012, "active": 7,
                                       "reading": 1, "writing": 4, "waiting": 2}
    with pytest.raises(ValueError, match="not an nginx stub_status page"):
        parse_stub_status("<html>502 Bad Gateway</html>")


@dataclass
class FakeResponse:
    status_code: int
    text: str


class FakeSession:
    def __init__(self, *responses: FakeResponse) -> None:
        self.responses = list(responses)
        self.headers: dict[str, str] = {}
        self.urls: list[str] = []

    def get(self, url: str, timeout: float) -> FakeResponse:
        self.urls.append(url)
        return self.responses.pop(0)

    def close(self) -> None:
        pass


def test_sampler_reads_the_published_port_and_writes_one_row() -> None:
    url = stub_status_url(StubStatus(port=8080), {8080: 49153, 8443: 49154})
    session = FakeSession(FakeResponse(200, PAGE), FakeResponse(503, "busy"))
    sampler = IngressSampler("ingress", url, session=session)  # type: ignore[arg-type]
    assert sampler.sample() == [{"service": "ingress", "accepted": 1520, "handled": 1519, "requests": 3012,
                                 "active": 7, "reading": 1, "writing": 4, "waiting": 2}]
    assert session.urls == ["http://127.0.0.1:49153/nginx_status"]
    with pytest.raises(SamplerUnavailable, match="answered 503"):
        sampler.sample()


def test_an_unpublished_status_port_is_named() -> None:
    sampler = IngressSampler.for_service("ingress", StubStatus(port=8080), {8443: 49154}, timeout=0.5)
    with pytest.raises(SamplerUnavailable, match="8080 is not published"):
        sampler.sample()
    with pytest.raises(ValueError, match="publish its port"):
        Service(image="nginx", ports=[8443], stub_status={"port": 8080})


def test_rates_are_per_second_at_the_later_tick_with_no_zeros_across_gaps() -> None:
    points = [(0.0, 100.0), (1.0, 130.0), (2.0, 150.0), (5.0, 400.0), (6.0, 410.0), (7.0, 5.0), (8.0, 25.0)]
    assert counter_rates(points) == [(0.0, None), (1.0, 30.0), (2.0, 20.0),
                                     (5.0, None),   # three ticks missing: unknown, not 83/s nor 0
                                     (6.0, 10.0),
                                     (7.0, None),   # the counter went back: nginx restarted
                                     (8.0, 20.0)]
    assert counter_rates([(0.0, 0.0), (0.5, 10.0), (1.0, 15.0)], step=0.5) == [(0.0, None), (0.5, 20.0), (1.0, 10.0)]
    assert mean_rate(counter_rates(points), 0, 6) == 20.0


def test_ingress_csv_rows_become_rates_per_service() -> None:
    text = ("t,wall,service,accepted,handled,requests,active,reading,writing,waiting\n"
            "0,w,ingress,10,10,20,1,0,1,0\n1,w,ingress,40,40,80,3,0,2,1\n2,w,ingress,bad,40,80,,,,\n"
            "3,w,ingress,70,70,140,2,0,1,1\n4,w,ingress,71")
    rows = parse_ingress(text)
    assert [r.t for r in rows] == [0, 1, 3]  # a garbled and a cut line are dropped
    rates = ingress_rates(rows)["ingress"]
    assert rates["accepted_per_s"] == [(0, None), (1, 30.0), (3, None)]
    assert rates["requests_per_s"][1] == (1, 60.0)


def test_both_sides_panel_draws_clients_and_ingress_in_the_same_seconds() -> None:
    clients = [ConnCountRow(float(t), p, n, n, 0.0) for t in range(5) for p, n in (("legacy", 3.0), ("modern", 17.0))]
    ingress = [IngressRow(float(t), "ingress", 17.0 * t, 17.0 * t, 17.0 * t) for t in range(6)]
    assert tick_step(ingress) == 1.0
    panel = both_sides_panel(clients, ingress)
    assert panel is not None and both_sides_panel(clients, []) is None
    fig, ax = plt.subplots()
    panel.draw(ax)
    lines = {line.get_label(): line for line in ax.get_lines()}
    sent = lines["clients: requests sent"]
    read = lines["ingress: requests read"]
    assert list(sent.get_ydata()) == [20.0] * 5 and list(sent.get_xdata())[1] == 1.5
    assert list(read.get_xdata())[1] == 0.5 and list(read.get_ydata())[1] == 17.0  # (0, 1] drawn at 0.5
    plt.close(fig)


def test_ingress_series_for_checks_live_and_after_the_run(tmp_path) -> None:
    from faultdrill.analysis.ingress import IngressRates, with_ingress_rates
    from faultdrill.recorder.points import points_from_rows, read_samples

    rows = [{"service": "ingress", "accepted": "10", "handled": "10", "requests": "20", "active": "2"}]
    points = points_from_rows("ingress", rows)
    assert points["ingress.ingress.accepted"] == 10 and points["ingress.ingress.active"] == 2
    live = IngressRates(interval=1.0)
    assert live.add(0.0, points)["ingress.ingress.requests_per_s"] is None  # no previous tick yet
    later = points_from_rows("ingress", [{**rows[0], "accepted": "40", "requests": "80"}])
    assert live.add(1.0, later)["ingress.ingress.requests_per_s"] == 60.0
    (tmp_path / "ingress.csv").write_text("t,wall,service,accepted,handled,requests,active,reading,writing,waiting\n"
                                          "0,w,ingress,10,10,20,2,0,1,1\n1,w,ingress,40,40,80,2,0,1,1\n")
    samples = with_ingress_rates(read_samples(tmp_path))
    assert samples["ingress.ingress.accepted_per_s"] == [(0.0, None), (1.0, 30.0)]


def test_a_check_on_ingress_needs_a_status_page() -> None:
    from faultdrill.scenario.check_model import metric_problem

    assert metric_problem("ingress.ingress.requests_per_s") is None


def test_a_pinned_app_shows_flat_at_its_limit_counting_close_wait() -> None:
    from faultdrill.recorder.points import points_from_rows
    from faultdrill.report.data import ConnectionRow
    from faultdrill.report.resource_plots import connection_lines

    # the ingress gave up on queued requests: the app holds them as CLOSE_WAIT, still at its limit
    rows = [ConnectionRow(t, "app", "inbound", "8000", state, n)
            for t, est, wait in ((1.0, 129, 0), (2.0, 60, 69), (3.0, 0, 129))
            for state, n in (("ESTABLISHED", est), ("CLOSE_WAIT", wait), ("TIME_WAIT", 7))]
    assert connection_lines(rows)[("app", "inbound")] == [(1.0, 129.0), (2.0, 129.0), (3.0, 129.0)]
    points = points_from_rows("connections", [{"service": "app", "direction": "inbound", "state": r.state,
                                               "count": r.count} for r in rows if r.t == 3.0])
    assert points["connections.app.inbound"] == 129 and points["connections.app.inbound.CLOSE_WAIT"] == 129
