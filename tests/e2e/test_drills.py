"""The seed's incidents as drills: each incident breaks the checks the real outage broke, each twin
with the fix passes — judged by the drills' own checks, time-scaled to half (same mechanics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultdrill.testing.plugin import DrillResult, run_for_test
from tests.helpers import SCENARIOS, labelled

pytestmark = [pytest.mark.docker, pytest.mark.slow]
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
    assert result.check("threads keep headroom")["value"] >= 120  # piled up to the 128-pid limit
    assert result.window("fault")["errors"].keys() & {"HTTP 500", "HTTP 503"}


def test_mail_outage_fix_holds_and_everyone_gets_a_mail(tmp_path: Path) -> None:
    result = drill("ticketing-mail-outage-fixed", tmp_path)
    assert result.passed, result.failures()
    assert result.check("every user has a verification mail")["value"] == 0


def test_write_contention_reproduces_without_overselling(tmp_path: Path) -> None:
    result = drill("ticketing-write-contention", tmp_path)
    assert result.exit_code == 1
    assert "entries stay fast" in failed(result)
    assert result.check("never oversold")["passed"]


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


def test_tls_policy_change_with_legacy_kept_breaks_nobody(tmp_path: Path) -> None:
    result = drill("mobile-tls-policy-change-fixed", tmp_path)
    assert result.passed, result.failures()


def test_ci_smoke_passes_with_junit(tmp_path: Path) -> None:
    result = run_for_test(SCENARIOS / "ci-smoke.yaml", tmp_path / "results")
    assert result.passed, result.failures()
    junit = (result.run_dir / "junit.xml").read_text()
    assert junit.count("<testcase") == 3 and "<failure" not in junit
