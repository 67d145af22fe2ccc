"""Which services wait for which (pure), and the cycles that would keep a stack from ever starting.

A service waits for what it ``depends_on`` and for whatever its env or command reaches:
``${service.db.addr}`` waits for ``db``; ``${proxy.db}`` waits for the proxy's upstream service.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from faultdrill.scenario.model import REF_RE, Scenario, Service
from faultdrill.scenario.refs import RefError, parse_ref

DEPENDS_ON = "depends_on"


def service_needs(scenario: Scenario) -> dict[str, dict[str, str]]:
    """For each service, the services it waits for, each with why: ``depends_on`` or the reference.

    Names that do not exist are left out (the loader reports them on their own); a service's
    reference to its own address is not a wait.
    """
    services = scenario.stack.services
    needs: dict[str, dict[str, str]] = {}
    for name, service in services.items():
        why: dict[str, str] = {}
        for ref_text, target in _referenced_services(service, scenario):
            if target in services and target != name:
                why.setdefault(target, f"${{{ref_text}}}")
        for dep in service.depends_on:
            if dep in services:
                why[dep] = DEPENDS_ON
        needs[name] = why
    return needs


def _referenced_services(service: Service, scenario: Scenario) -> Iterable[tuple[str, str]]:
    texts = list(service.env.values())
    texts += [service.command] if isinstance(service.command, str) else list(service.command or [])
    for text in texts:
        for match in REF_RE.finditer(text):
            try:
                ref = parse_ref(match.group(1))
            except RefError:
                continue
            if ref.kind == "service":
                yield ref.text, ref.name
            elif ref.kind == "proxy" and ref.name in scenario.proxies:
                yield ref.text, scenario.proxies[ref.name].upstream.rpartition(":")[0]


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Cycles found by one depth-first walk, each as a path ending where it starts (``[a, b, a]``).

    Every group of nodes that wait on each other yields at least one; a cycle through the same
    nodes is given once. Iterative, so a long chain cannot exhaust the interpreter's stack.
    """
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for root in graph:
        if root in state:
            continue
        path, pending = [root], [iter(graph.get(root, ()))]
        state[root] = "open"
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                pending.pop()
            elif state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                pending.append(iter(graph.get(nxt, ())))
    return cycles


def describe_cycle(cycle: list[str], needs: Mapping[str, Mapping[str, str]]) -> str:
    """``a → b → a``, and which links come from references rather than ``depends_on``."""
    if len(cycle) == 2:
        text = f"service {cycle[0]!r} depends on itself ({cycle[0]} → {cycle[0]})"
    else:
        text = f"services wait for each other in a cycle: {' → '.join(cycle)}"
    through = [f"{a} needs {b} through {needs[a][b]}" for a, b in itertools.pairwise(cycle)
               if needs[a][b] != DEPENDS_ON]
    return text + (f" ({'; '.join(through)})" if through else "")
