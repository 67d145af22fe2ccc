"""Time-scaling a scenario (pure): the same drill, shorter or longer, with the same mechanics.

Scaled: the load shape and duration, every fault's ``at``/``for``/``repeat``, checks' ``sustained``
and explicit spans, abort rules' ``sustained``/``after``. Not scaled: latencies and timeouts inside
toxics and services (a 200 ms toxic stays 200 ms — that is the fault being rehearsed).
"""

from __future__ import annotations

from typing import Any

from faultdrill.scenario.model import Scenario


def scale_scenario(scenario: Scenario, factor: float) -> Scenario:
    if factor <= 0:
        raise ValueError(f"time scale must be > 0, got {factor}")
    if factor == 1:
        return scenario
    data: dict[str, Any] = scenario.model_dump(mode="python", by_alias=True)

    def s(value: float | None) -> float | None:
        return None if value is None else round(value * factor, 3)

    load = data["load"]
    for stage in load.get("shape") or []:
        stage["until"] = s(stage["until"])
    if load.get("spike"):
        for key in ("at", "rise", "hold", "decay", "until"):
            load["spike"][key] = s(load["spike"][key])
    if load.get("steps"):
        load["steps"]["every"] = s(load["steps"]["every"])
    load["duration"] = s(load.get("duration"))
    for fault in data["faults"]:
        fault["at"], fault["for"] = s(fault["at"]), s(fault.get("for"))
        if fault.get("repeat"):
            fault["repeat"] = {k: s(v) for k, v in fault["repeat"].items()}
    for check in data["checks"]:
        check["sustained"] = s(check.get("sustained"))
        if isinstance(check.get("window"), dict):
            check["window"] = {k: s(v) for k, v in check["window"].items()}
    for rule in data["abort"]:
        rule["sustained"], rule["after"] = s(rule["sustained"]), s(rule["after"])
    return Scenario.model_validate(data)
