"""The compose-shop drill end to end: a team's compose file, unchanged, drilled through transparent proxies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SCENARIOS, faultdrill, labelled, only_run_dir, read_json

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_the_compose_shop_drill_sees_the_slow_cache_and_the_queue_down(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = faultdrill("run", str(SCENARIOS / "compose-shop.yaml"), "--results", str(results), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = only_run_dir(results)
    summary = read_json(run_dir / "summary.json")
    assert all(c["passed"] for c in summary["checks"]), summary["checks"]
    requests = summary["requests"]
    assert requests["POST /orders"]["queue down"]["error_rate"] >= 0.9
    assert requests["GET /products/{id}"]["slow cache"]["p50_ms"] >= 140
    run = read_json(run_dir / "run.json")
    wiring = {w["proxy"]: w for w in run["stack"]["wiring"]}
    assert wiring["queue"]["address"] == "queue:6379" and wiring["queue"]["clients"] == ["api", "worker"]
    assert run["stack"]["source"].endswith("examples/compose-shop/docker-compose.yml")
    assert "proxies" in (run_dir / "report.html").read_text() and "cache:11211" in (run_dir / "report.html").read_text()
    assert labelled(run_dir.name) == []
