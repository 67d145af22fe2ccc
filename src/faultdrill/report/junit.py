"""``junit.xml``: one test suite per run, one test case per check (pure; from summary.json's dict).

Shape (the common JUnit schema CI servers read)::

    <testsuites name="faultdrill" tests failures errors skipped time>
      <testsuite name="faultdrill.<scenario>" tests failures errors skipped time timestamp hostname>
        <properties> run_id, status, verdict, duration_s </properties>
        <testcase classname="<scenario>" name="<check>" time="0">
          <failure message="<reason>" type="CheckFailed">…</failure>      (a failed check)
        </testcase>
        <testcase classname="<scenario>" name="drill completed" time="…">  (only when it did not)
          <failure message="…" type="RunInterrupted"/> | <error message="…" type="RunFailed"/>
        </testcase>
        <testcase … name="<check>"><skipped message="not judged: …"/></testcase>  (checks not judged)
      </testsuite>
    </testsuites>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from faultdrill.report.format import bound, check_target, metric_value, window_label

INCOMPLETE_CASE = "drill completed"


def _case(parent: ET.Element, classname: str, name: str, time: float = 0.0) -> ET.Element:
    return ET.SubElement(parent, "testcase", classname=classname, name=name, time=f"{time:.3f}")


def render_junit(summary: dict[str, Any], hostname: str | None = None, timestamp: str | None = None) -> str:
    scenario = str(summary.get("scenario", "scenario"))
    status = str(summary.get("status", "unknown"))
    duration = float(summary.get("duration_s") or 0.0)
    root = ET.Element("testsuites", name="faultdrill")
    suite = ET.SubElement(root, "testsuite", name=f"faultdrill.{scenario}")
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "status", "verdict", "duration_s"):
        ET.SubElement(props, "property", name=key, value=str(summary.get(key, "")))
    failures = errors = skipped = 0
    for check in summary.get("checks", []):
        case = _case(suite, scenario, str(check.get("name")))
        if check.get("passed"):
            continue
        if check.get("outcome") == "misconfigured":  # the check itself is wrong, not the system under test
            errors += 1
            ET.SubElement(case, "error", message=str(check.get("reason")), type="CheckMisconfigured").text = (
                f"{check.get('reason')}\nfix the check's request, profile or metric name in the scenario")
            continue
        failures += 1
        failure = ET.SubElement(case, "failure", message=str(check.get("reason", "check failed")),
                                type="CheckFailed")
        failure.text = (f"metric {check_target(check)} in window {window_label(check.get('window'))}: "
                        f"value {metric_value(str(check.get('metric', '')), check.get('value'))}, "
                        f"bound {bound(check)}\n{check.get('reason', '')}")
    if status != "completed":
        case = _case(suite, scenario, INCOMPLETE_CASE, duration)
        message = f"the drill did not complete: {summary.get('error') or status}"
        if status == "interrupted":
            failures += 1
            ET.SubElement(case, "failure", message=message, type="RunInterrupted").text = (
                f"status {status} after {duration:.1f} s of run time; checks were not judged")
        else:
            errors += 1
            ET.SubElement(case, "error", message=message, type="RunFailed").text = (
                f"status {status} after {duration:.1f} s of run time; checks were not judged")
        for check in summary.get("checks_not_judged", []):
            case = _case(suite, scenario, str(check.get("name")))
            ET.SubElement(case, "skipped", message=f"not judged: the run was {status}")
            skipped += 1
    tests = len(suite.findall("testcase"))
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors), "skipped": str(skipped),
              "time": f"{duration:.3f}"}
    suite.attrib.update(counts)
    if timestamp:
        suite.set("timestamp", timestamp)
    if hostname:
        suite.set("hostname", hostname)
    root.attrib.update(counts)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
