"""Scenario files: the typed model, the loader, and ``${...}`` references."""

from faultdrill.scenario.loader import LoadedScenario, load_scenario, parse_scenario
from faultdrill.scenario.model import Check, Fault, Load, Proxy, Scenario, Service, Stage, Toxic

__all__ = [
    "Check", "Fault", "Load", "LoadedScenario", "Proxy", "Scenario", "Service", "Stage", "Toxic",
    "load_scenario", "parse_scenario",
]
