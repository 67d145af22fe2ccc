"""Pure planning of a stack: start order and proxy ports. No Docker here."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from faultdrill.errors import UsageError
from faultdrill.scenario.model import Scenario
from faultdrill.scenario.refs import refs_in
from faultdrill.scenario.transparent import listen_port

PROXY_PORT_BASE = 20000


def proxy_listen_ports(scenario: Scenario) -> dict[str, int]:
    fixed = {name: listen_port(scenario, name) or p.listen_port for name, p in scenario.proxies.items()}
    taken = {port for port in fixed.values() if port}
    ports: dict[str, int] = {}
    candidate = PROXY_PORT_BASE
    for name in scenario.proxies:
        if fixed[name]:
            ports[name] = fixed[name]  # type: ignore[assignment]
            continue
        while candidate in taken:
            candidate += 1
        ports[name] = candidate
        taken.add(candidate)
    return ports


def dependencies(scenario: Scenario) -> dict[str, set[str]]:
    """Each service's dependencies: explicit ``depends_on`` plus what its env reaches through proxies."""
    deps: dict[str, set[str]] = {}
    for name, service in scenario.stack.services.items():
        needs = set(service.depends_on)
        texts = list(service.env.values())
        texts += [service.command] if isinstance(service.command, str) else list(service.command or [])
        for text in texts:
            for ref in refs_in(text):
                if ref.kind == "proxy":
                    needs.add(scenario.proxies[ref.name].upstream.rpartition(":")[0])
                elif ref.kind == "service":
                    needs.add(ref.name)
        needs.discard(name)
        deps[name] = needs
    return deps


def start_order(scenario: Scenario) -> list[str]:
    try:
        return list(TopologicalSorter(dependencies(scenario)).static_order())
    except CycleError as exc:
        raise UsageError(f"services depend on each other in a cycle: {' -> '.join(exc.args[1])}",
                         hint="remove one depends_on or proxy reference from the cycle") from None
