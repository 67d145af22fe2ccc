"""The seed's incidents as drills: each incident breaks the checks the real outage broke, each twin
with the fix passes — judged by the drills' own checks, time-scaled to half (same mechanics).

One run per drill; each test also asserts the incident's *signature* from the run's raw files
(tests/e2e/signatures.py): what the responders saw, not only which checks failed."""

from __future__ import annotations

from pathlib import Path
from statistics import mean, median

import pytest

from faultdrill.testing.plugin import DrillResult, run_for_test
from tests.e2e import signatures as sig
from tests.helpers import SCENARIOS, labelled

# One lane under pytest-xdist: these drills surge the app to its limits and their checks judge latency, so two
# at once on two cores would measure each other. The suite's other tests share the other lanes.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("surge-drills")]
SCALE = 0.5


def drill(name: str, tmp_path: Path) -> DrillResult:
    result = run_for_test(SCENARIOS / f"{name}.yaml", tmp_path / "results", time_scale=SCALE)
    assert labelled(result.run_dir.name) == []
    return result


def failed(result: DrillResult) -> set[str]:
    return {c["name"] for c in result.summary["checks"] if not c["passed"]}


def test_mail_outage_reproduces(tmp_path: Path) -> None:
    result = drill("ticketing-mail-outage", tmp_path)
    assert result.exit_code == 1
    assert {"event pages keep working", "errors stay rare during the mail outage",
            "threads keep headroom"} <= failed(result)
    assert {"event pages answer within 1 s", "app connections keep headroom"} <= failed(result)
    # Incident 1's signature: successful requests slow down by 10x and more *before* errors take over,
    # while the app's open connections stop growing, flat at its limit (64 accepted + 64 queued).
    run_dir = result.run_dir
    fault_start = result.summary["faults"][0]["start"]
    climb = sig.latency_climb(run_dir, sig.window(run_dir, "baseline"), fault_start)
    assert climb.factor >= 10, climb
    assert climb.errors_at is None or climb.peak_at < climb.errors_at, climb
    connections = sig.open_connections(run_dir, "app")
    _, plateau_s = sig.longest_plateau(connections, at_least=120)
    assert plateau_s >= 5, f"app connections never flat near their limit of 129: {sorted(connections.items())}"
    assert max(connections.values()) <= 135  # bounded by the server, not by luck
    pinned_at = sig.first_at(connections, 120, after=fault_start)
    assert pinned_at is not None and pinned_at < fault_start + 30, sorted(connections.items())


def test_mail_outage_fix_holds_and_everyone_gets_a_mail(tmp_path: Path) -> None:
    result = drill("ticketing-mail-outage-fixed", tmp_path)
    assert result.passed, result.failures()
    assert result.check("every user has a verification mail")["value"] == 0
    # The same surge and mail outage: latency and connections stay near their baseline.
    run_dir = result.run_dir
    fault = sig.window(run_dir, "fault")
    assert (sig.ok_p95(sig.seconds(run_dir), *fault) or 0) < 1000
    connections = sig.between(sig.open_connections(run_dir, "app"), *fault)
    assert median(connections) <= 10 and max(connections) < 120, connections  # never pinned at the limit


def test_write_contention_reproduces_without_overselling(tmp_path: Path) -> None:
    result = drill("ticketing-write-contention", tmp_path)
    assert result.exit_code == 1
    assert {"entries stay fast", "no DB session waits on a lock"} <= failed(result)
    assert result.check("never oversold")["passed"]
    # The entry surge shows in the database: its commits and its CPU climb, and sessions wait for the hot row's lock.
    run_dir = result.run_dir
    before, surge = (1.0, 10 * SCALE), (15 * SCALE, 75 * SCALE)  # the sale opens at 10 s (scaled)
    commits = sig.db_field(run_dir, "db", "commits_per_s")
    assert median(sig.between(commits, *surge)) > 3 * median(sig.between(commits, *before)), commits
    # A CPU sample stamped t covers the second before it. The DB's CPU alternates from one second to the next
    # (a two-second rhythm of its own, a percent or two of a core, as large as the quiet level itself), so
    # both sides are means over an even number of seconds: 1-5 s (the four samples stamped 2..5, after
    # the start-up one, up to the sale's opening) and the 30 s of the surge from its peak on.
    cpu = sig.resource(run_dir, "db", "cpu_pct")
    quiet = sig.between(cpu, before[0] + 0.5, before[1] + 0.5)
    surging = sig.between(cpu, surge[0] + 0.5, surge[1] + 0.5)
    assert (len(quiet), len(surging)) == (4, 30), cpu
    assert mean(surging) > 1.5 * mean(quiet), cpu
    waiting = sig.db_field(run_dir, "db", "sessions_waiting_lock")
    assert max(sig.between(waiting, *sig.window(run_dir, "fault"))) >= 3 > max(sig.between(waiting, *before)), waiting


def test_write_contention_fix_holds_without_overselling(tmp_path: Path) -> None:
    result = drill("ticketing-write-contention-fixed", tmp_path)
    assert result.passed, result.failures()
    assert result.check("never oversold")["passed"]


def test_tls_policy_change_hits_only_legacy_clients(tmp_path: Path) -> None:
    result = drill("mobile-tls-policy-change", tmp_path)
    assert result.exit_code == 1
    assert failed(result) == {"legacy mobile clients keep working", "every client can still handshake",
                              "errors stay rare overall"}
    assert result.check("modern clients keep working")["passed"]
    share = result.check("errors stay rare overall")["value"]
    assert 0.05 <= share <= 0.3  # about the legacy share of the traffic
    # Incident 2 from both sides: the ingress reads fewer requests than the clients sent, by about
    # the legacy share, only while the policy is changed.
    run_dir = result.run_dir
    start, end = sig.window(run_dir, "fault")
    before = sig.both_sides(run_dir, start - 10, start)
    during = sig.both_sides(run_dir, start + 2, end)
    assert abs(before.gap) < 0.05, before
    assert 0.07 <= during.gap <= 0.3, during


def test_tls_policy_change_with_legacy_kept_breaks_nobody(tmp_path: Path) -> None:
    result = drill("mobile-tls-policy-change-fixed", tmp_path)
    assert result.passed, result.failures()


def test_ci_smoke_passes_with_junit_and_history_shows_three_runs(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from faultdrill.cli import main
    from faultdrill.history.store import open_history

    results = tmp_path / "results"
    result = run_for_test(SCENARIOS / "ci-smoke.yaml", results)
    assert result.passed, result.failures()
    junit = (result.run_dir / "junit.xml").read_text()
    assert junit.count("<testcase") == 3 and "<failure" not in junit
    # two more, time-scaled to keep CI short: the history is about runs, not their length
    runs = [result.run_dir.name] + [run_for_test(SCENARIOS / "ci-smoke.yaml", results, time_scale=0.4).run_dir.name
                                    for _ in range(2)]
    with open_history(results, sync=False) as store:  # each run indexed itself as it ended
        assert [r["run_id"] for r in store.runs("ci-smoke")] == runs
    capsys.readouterr()
    assert main(["history", "ci-smoke", "--results", str(results), "--fail-if", "error_rate:+0.05"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:4].isdigit()]
    assert len(rows) == 3 and all(" passed " in row for row in rows), out
    assert "event pages stay fast" in out and (results / "history-ci-smoke.png").is_file()
