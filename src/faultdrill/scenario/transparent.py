"""Transparent proxies: Toxiproxy takes the dependency's name, so the app's config stays as written.

For a proxy ``db: {upstream: "db:5432"}`` that is transparent, Toxiproxy listens on 5432 under the
network alias ``db``; the real ``db`` service answers only to an internal alias
(``fd-direct-db``), which is the proxy's upstream. An app whose ``DATABASE_URL`` says
``db:5432`` goes through the proxy without a change. Pure planning; ``stack.stack`` applies it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from faultdrill.scenario.model import Scenario
from faultdrill.scenario.yaml_source import Loc

DIRECT_PREFIX = "fd-direct-"
TOXIPROXY_API_PORT = 8474


@dataclass(frozen=True)
class ProxyWire:
    proxy: str
    transparent: bool
    address: str  # what clients in the stack dial: "db:5432" (transparent) or "toxiproxy:20000"
    upstream: str  # what Toxiproxy dials
    service: str  # the service behind it
    clients: tuple[str, ...]  # services that depend on that service (who reaches it through the proxy)

    def as_dict(self) -> dict[str, object]:
        return {"proxy": self.proxy, "transparent": self.transparent, "address": self.address,
                "upstream": self.upstream, "service": self.service, "clients": list(self.clients)}


def direct_alias(service: str) -> str:
    return f"{DIRECT_PREFIX}{service}"


def is_transparent(scenario: Scenario, proxy: str) -> bool:
    flag = scenario.proxies[proxy].transparent
    if scenario.stack.attach is not None:
        return False  # an attached stack is never rewired (see problems())
    return scenario.stack.transparent if flag is None else flag


def taken_names(scenario: Scenario) -> dict[str, str]:
    """Service name -> proxy, for every service whose name a transparent proxy takes."""
    return {scenario.proxies[p].upstream.rpartition(":")[0]: p for p in scenario.proxies if is_transparent(scenario, p)}


def listen_port(scenario: Scenario, proxy: str) -> int | None:
    """The port a transparent proxy must listen on (its upstream's), or None for an ordinary proxy."""
    if not is_transparent(scenario, proxy):
        return None
    return int(scenario.proxies[proxy].upstream.rpartition(":")[2])


def toxiproxy_aliases(scenario: Scenario) -> list[str]:
    return sorted(taken_names(scenario))


def service_aliases(scenario: Scenario, name: str) -> list[str]:
    """The names a service answers to on the run network."""
    own = [direct_alias(name)] if name in taken_names(scenario) else [name]
    return own + list(scenario.stack.services[name].aliases)


def upstream(scenario: Scenario, proxy: str) -> str:
    host, _, port = scenario.proxies[proxy].upstream.rpartition(":")
    return f"{direct_alias(host)}:{port}" if is_transparent(scenario, proxy) else f"{host}:{port}"


def dial(scenario: Scenario, address: str) -> str:
    """``service:port`` as Toxiproxy must dial it: directly, if a transparent proxy took the name."""
    host, _, port = address.rpartition(":")
    return f"{direct_alias(host)}:{port}" if host in taken_names(scenario) else address


def wiring(scenario: Scenario, listen_ports: dict[str, int], toxiproxy_host: str) -> list[ProxyWire]:
    out = []
    for name, proxy in scenario.proxies.items():
        host, _, port = proxy.upstream.rpartition(":")
        transparent = is_transparent(scenario, name)
        clients = tuple(n for n, s in scenario.stack.services.items() if host in s.depends_on)
        address = f"{host}:{port}" if transparent else f"{toxiproxy_host}:{listen_ports[name]}"
        out.append(ProxyWire(name, transparent, address, upstream(scenario, name), host, clients))
    return out


def problems(scenario: Scenario) -> Iterable[tuple[Loc, str, str]]:
    """(location, what is wrong, what to do) for transparent proxies that cannot be wired."""
    if scenario.stack.attach is not None:
        for name, proxy in scenario.proxies.items():
            if proxy.transparent:
                yield (("proxies", name, "transparent"), "an attached stack is not changed, so a proxy cannot take "
                       "its service's name", "drop transparent; point clients at ${proxy.NAME}")
        return
    seen_ports: dict[int, str] = {}
    seen_hosts: dict[str, str] = {}
    for name, proxy in scenario.proxies.items():
        if not is_transparent(scenario, name):
            continue
        host, _, port_text = proxy.upstream.rpartition(":")
        port = int(port_text)
        if proxy.listen_port is not None and proxy.listen_port != port:
            yield (("proxies", name, "listen_port"), f"a transparent proxy listens on its upstream's port ({port})",
                   "drop listen_port, or set transparent: false on this proxy")
        if port == TOXIPROXY_API_PORT:
            yield (("proxies", name, "upstream"), f"port {port} is Toxiproxy's API port; a transparent proxy cannot take it",
                   "set transparent: false on this proxy")
        if host in seen_hosts:
            yield (("proxies", name, "upstream"), f"proxy {seen_hosts[host]!r} already takes the name {host!r}",
                   "one transparent proxy per service; set transparent: false on one of them")
        elif port in seen_ports:
            yield (("proxies", name, "upstream"), f"proxy {seen_ports[port]!r} already listens on port {port}; "
                   "one Toxiproxy cannot take two services' names on the same port",
                   "set transparent: false on one of them and point its clients at ${proxy.NAME}")
        seen_hosts.setdefault(host, name)
        seen_ports.setdefault(port, name)
