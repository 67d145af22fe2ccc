"""The reference drill: a scripted target with known answers, run through the real CLI, then every
figure the report gives recomputed from the raw files with this test's own code.

The script (tests/e2e/reference/reference.yaml): 20 arrivals a second (open model) for 40 s; a
300 ms latency toxic on the backend hop from 10 s to 20 s; the backend's proxy down from 20 s to
28 s (web answers 502 at once). This file reads ``histograms.jsonl`` with ``hdrh`` directly, the
fault times from ``events.jsonl``, and judges windows, checks and detection with its own loops —
sharing no analysis code with faultdrill — then compares to ``summary.json`` and the CSVs.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from tests.helpers import ROOT, faultdrill, labelled, only_run_dir, read_json

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCENARIO = ROOT / "tests" / "e2e" / "reference" / "reference.yaml"
RATE = 20
DURATION = 40


@dataclass
class Second:
    t: int
    count: int
    failures: int
    errors: dict[str, int]
    hist: HdrHistogram
    ok: HdrHistogram
    dropped: int
    intended: int
    names: set[str] = field(default_factory=set)


def read_seconds(run_dir: Path) -> list[Second]:
    out = []
    for line in (run_dir / "histograms.jsonl").read_text().splitlines():
        raw = json.loads(line)
        hist, ok = HdrHistogram(1, 600_000_000, 2), HdrHistogram(1, 600_000_000, 2)
        count = failures = 0
        errors: dict[str, int] = {}
        for stats in raw["requests"].values():
            count += stats["count"]
            failures += stats["failures"]
            hist.add(HdrHistogram.decode(stats["hist"].encode()))
            ok.add(HdrHistogram.decode(stats["ok_hist"].encode()))
            for kind, n in stats.get("errors", {}).items():
                errors[kind] = errors.get(kind, 0) + n
        o = raw.get("open") or {}
        out.append(Second(raw["t"], count, failures, errors, hist, ok, o.get("dropped", 0), o.get("intended", 0),
                          set(raw["requests"])))
    return out


def fault_times(run_dir: Path) -> tuple[dict[str, tuple[float, float]], float]:
    starts, stops, end = {}, {}, 0.0
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["kind"] == "fault.start":
            starts[e["fault"]] = e["t"]
        elif e["kind"] == "fault.stop":
            stops[e["fault"]] = e["t"]
        elif e["kind"] == "run.end":
            end = e["t"]
    return {name: (starts[name], stops[name]) for name in starts}, end


def pick(seconds: list[Second], spans: list[tuple[float, float]]) -> list[Second]:
    """A per-second bin belongs to a window when its midpoint does (the documented rule)."""
    return [s for s in seconds if any(a <= s.t + 0.5 < b for a, b in spans)]


def merged(seconds: list[Second], attr: str) -> HdrHistogram:
    total = HdrHistogram(1, 600_000_000, 2)
    for s in seconds:
        total.add(getattr(s, attr))
    return total


def pct(hist: HdrHistogram, p: float) -> float | None:
    return round(hist.get_value_at_percentile(p) / 1000.0, 3) if hist.get_total_count() else None


def error_rate(seconds: list[Second]) -> float:
    attempts = sum(s.count + s.dropped for s in seconds)
    return (sum(s.failures + s.dropped for s in seconds)) / attempts


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    results = tmp_path_factory.mktemp("results")
    proc = faultdrill("run", str(SCENARIO), "--results", str(results), timeout=600)
    run_dir = only_run_dir(results)
    faults, end = fault_times(run_dir)
    return proc, run_dir, read_seconds(run_dir), faults, end, read_json(run_dir / "summary.json")


def test_the_drill_ends_with_exit_1_and_leaves_nothing_behind(run) -> None:  # type: ignore[no-untyped-def]
    proc, run_dir, *_ = run
    assert proc.returncode == 1, proc.stdout + proc.stderr  # some checks are meant to fail
    assert read_json(run_dir / "run.json")["problems"] == []
    assert labelled(run_dir.name) == []


def test_every_second_is_a_real_second_of_the_scripted_load(run) -> None:  # type: ignore[no-untyped-def]
    _, _, seconds, faults, _, _ = run
    assert [s.t for s in seconds][:DURATION] == list(range(DURATION))
    assert all(s.dropped == 0 for s in seconds), [(s.t, s.dropped) for s in seconds if s.dropped]
    assert all(s.intended == RATE for s in seconds[:DURATION]), [(s.t, s.intended) for s in seconds]
    # second 0 is a whole second of load: no empty start, no burst a second later. Requests count in the
    # second they complete: a busy machine moves a few across a boundary (a quarter second's worth at most
    # here); an empty start or a catch-up burst is off by a whole second's 20.
    assert RATE - 5 <= seconds[0].count <= RATE + 5 and seconds[1].count <= RATE + 5, seconds[:2]
    slow, down = faults["slow backend"], faults["backend down"]
    # Seconds off the script's pace (too few answers, or too slow): the machine's, not the target's, when
    # only a few. Latency is measured from each arrival's intended time, and requests count in the second
    # they complete: a generator held back 2 s by a busy machine leaves a second empty and the next one
    # slow. A target off its script is off in most of them.
    late: list[tuple[int, int, float | None]] = []
    for s in seconds[:DURATION]:
        inside_slow = math.ceil(slow[0]) < s.t < math.floor(slow[1]) - 1
        inside_down = math.ceil(down[0]) < s.t < math.floor(down[1])
        if inside_slow:  # +300 ms on every backend answer, none failing
            assert s.failures == 0 and (s.count == 0 or pct(s.ok, 50) >= 300), (s.t, pct(s.ok, 50))
            if s.count < RATE - 5 or pct(s.ok, 50) >= 500:
                late.append((s.t, s.count, pct(s.ok, 50)))
        elif inside_down:  # every request fails, fast
            assert s.failures == s.count and set(s.errors) <= {"HTTP 502"} and pct(s.ok, 50) is None, (s.t, s.errors)
            if s.count < RATE - 5 or pct(s.hist, 50) >= 100:
                late.append((s.t, s.count, pct(s.hist, 50)))
        elif s.t < slow[0] - 1 or s.t > down[1] + 1:  # fast, none failing
            assert s.failures == 0, (s.t, s.failures)
            if s.count < RATE - 5 or pct(s.ok, 50) >= 100:
                late.append((s.t, s.count, pct(s.ok, 50)))
    assert len(late) <= 3, late


def test_windows_equal_the_recomputation(run) -> None:  # type: ignore[no-untyped-def]
    _, _, seconds, faults, end, summary = run
    slow, down = faults["slow backend"], faults["backend down"]
    expected = {"baseline": [(2.0, slow[0])], "slow backend": [slow], "backend down": [down],
                "recovery": [(down[1], end)], "run": [(0.0, end)]}
    for name, spans in expected.items():
        w = summary["windows"][name]
        assert [tuple(x) for x in w["spans"]] == [(round(a, 3), round(b, 3)) for a, b in spans], name
        picked = pick(seconds, spans)
        assert w["seconds"] == len(picked) and not w["empty"], name
        assert w["requests"] == sum(s.count for s in picked), name
        assert w["failures"] == sum(s.failures for s in picked), name
        assert w["error_rate"] == round(error_rate(picked), 5), name
        for p in (50, 95, 99):
            assert w[f"p{p}_ms"] == pct(merged(picked, "ok"), p), (name, p)
            assert w[f"all_p{p}_ms"] == pct(merged(picked, "hist"), p), (name, p)
    assert summary["windows"]["ramp"]["spans"] == [[0.0, 2.0]]  # arrivals starting, first answers completing
    assert summary["windows"]["backend down"]["error_rate"] > 0.9
    assert summary["windows"]["slow backend"]["p50_ms"] >= 300 > summary["windows"]["baseline"]["p95_ms"]


def test_checks_equal_the_recomputation_and_the_known_answers(run) -> None:  # type: ignore[no-untyped-def]
    _, _, seconds, faults, _end, summary = run
    checks = {c["name"]: c for c in summary["checks"]}
    slow = pick(seconds, [faults["slow backend"]])
    assert checks["baseline is fast"]["passed"]
    assert checks["the toxic shows"]["passed"] and checks["the toxic shows"]["value"] == pct(merged(slow, "ok"), 50)
    over = checks["answers under 250 ms while slow"]
    assert not over["passed"] and over["value"] == pct(merged(slow, "ok"), 95) >= 300
    rare = checks["errors stay rare"]
    bad = [s.t for s in seconds if s.count + s.dropped and error_rate([s]) > 0.05]
    first, length = bad[0], 1
    while first + length in bad:
        length += 1
    assert not rare["passed"] and rare["breaches"] == [[first, first + length]]
    assert math.floor(faults["backend down"][0]) <= first <= math.ceil(faults["backend down"][0])
    assert 7 <= length <= 10
    recovers = checks["the front page recovers"]  # the locustfile's name="/front", recorded as GET /front
    assert recovers["passed"] and recovers["value"] == 0 and recovers["outcome"] == "passed"
    typo = checks["a typo in a request name"]
    assert typo["outcome"] == "misconfigured" and "recorded: GET /front" in typo["reason"]
    assert checks["no arrival dropped"]["passed"] and checks["no arrival dropped"]["value"] == 0
    assert checks["web keeps its threads"]["passed"]
    assert summary["checks_misconfigured"] == ["a typo in a request name"]


def test_detection_and_recovery_equal_the_recomputation(run) -> None:  # type: ignore[no-untyped-def]
    _, _, seconds, faults, _, summary = run
    rows = {(d["check"], d["fault"]): d for d in summary["detection"]}
    bad = [s.t for s in seconds if s.count + s.dropped and error_rate([s]) > 0.05]
    start = bad[0]
    end = start
    while end in bad:
        end += 1
    good_from = next(t for t in range(end, DURATION) if all(t + k not in bad for k in range(5)))
    down = rows[("errors stay rare", "backend down")]
    assert down["detected_at"] == start + 3 and down["time_to_detect_s"] == round(start + 3 - faults["backend down"][0], 3)
    assert down["recovered_at"] == good_from and down["recovered_after"] == "backend down"
    # the first good second may begin a few ms before the heal it follows: 0 s, never negative
    assert down["time_to_recover_s"] == max(0.0, round(good_from - faults["backend down"][1], 3))
    assert 0 <= down["time_to_recover_s"] <= 2 and 2 <= down["time_to_detect_s"] <= 4
    assert rows[("errors stay rare", "slow backend")]["note"] == "held"
    shows = rows[("the toxic shows", "slow backend")]
    assert shows["role"] == "expectation" and shows["note"] == "shown" and shows["time_to_detect_s"] <= 2
    assert not [k for k in rows if k[0] in ("baseline is fast", "the front page recovers", "a typo in a request name")]


def test_curves_equal_the_recomputation(run) -> None:  # type: ignore[no-untyped-def]
    _, run_dir, seconds, _, _, _ = run
    with open(run_dir / "timeseries.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_t = {s.t: s for s in seconds}
    for row in rows:
        s = by_t[int(row["t"])]
        assert int(row["requests"]) == s.count and int(row["failures"]) == s.failures
        expected = pct(s.hist, 95)
        assert (row["p95_ms"] == "" if expected is None else float(row["p95_ms"]) == expected), row
    with open(run_dir / "connections.csv", newline="") as fh:
        conns = list(csv.DictReader(fh))
    ticks: dict[str, set[str]] = {}
    for row in conns:
        ticks.setdefault(row["service"], set()).add(row["t"])
    grids = list(ticks.values())
    assert grids and all(g == grids[0] for g in grids), "every service is sampled on the same ticks"
    assert all(abs(float(t) * 2 - round(float(t) * 2)) < 1e-9 for t in grids[0])  # the 0.5 s grid
    endpoints = {row["endpoint"] for row in conns if row["direction"] == "inbound"}
    assert endpoints <= {"8000", "8474"} | {str(p) for p in range(20000, 20100)}, endpoints  # no DNS listener


def test_the_report_command_rejudges_the_same_verdict(run) -> None:  # type: ignore[no-untyped-def]
    _, run_dir, _, _, _, summary = run
    proc = faultdrill("report", str(run_dir))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    again = read_json(run_dir / "summary.json")
    assert again["checks"] == summary["checks"] and again["detection"] == summary["detection"]
    assert again["windows"] == summary["windows"]
