"""``${...}`` references in scenario strings, and their resolution against a running stack.

Two kinds exist, because they are known at different times:

* in-network references (``${proxy.db}``, ``${service.db.addr}``) name addresses on the run's
  Docker network. They are known before any container starts and may be used in a service's
  ``env`` and ``command``.
* host references (``${service.app.url}``, ``${proxy.db.url}``, ``…host_port``) name ports
  published on 127.0.0.1. They are known only once the stack is up, so only the load section
  may use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from faultdrill.scenario.model import REF_RE

Where = Literal["network", "host"]


@dataclass(frozen=True)
class Ref:
    text: str  # as written, without ${ }
    kind: Literal["service", "proxy", "run"]
    name: str
    attr: str  # "", url, host_port, addr, id
    port: int | None
    where: Where


HOST_ATTRS = {"url", "host_port"}
NETWORK_ATTRS = {"", "addr"}
FORMS = (
    "${service.NAME.url}, ${service.NAME.url.PORT}, ${service.NAME.host_port[.PORT]} (host side); "
    "${service.NAME.addr[.PORT]} (in the stack); ${proxy.NAME} (in the stack); "
    "${proxy.NAME.url}, ${proxy.NAME.host_port} (host side); ${run.id}"
)


class RefError(ValueError):
    pass


def parse_ref(text: str) -> Ref:
    parts = text.strip().split(".")
    if parts == ["run", "id"]:
        return Ref(text, "run", "", "id", None, "network")
    if len(parts) < 2 or parts[0] not in ("service", "proxy"):
        raise RefError(f"unknown reference ${{{text}}}; known forms: {FORMS}")
    kind, name, rest = parts[0], parts[1], parts[2:]
    attr = rest[0] if rest else ""
    port: int | None = None
    if len(rest) == 2:
        if not rest[1].isdigit():
            raise RefError(f"${{{text}}}: {rest[1]!r} is not a port number")
        port = int(rest[1])
    elif len(rest) > 2:
        raise RefError(f"${{{text}}} has too many parts; known forms: {FORMS}")
    if kind == "service" and attr == "":
        raise RefError(f"${{{text}}}: say which address: ${{service.{name}.url}} (host) or .addr (in the stack)")
    if attr not in HOST_ATTRS | NETWORK_ATTRS:
        raise RefError(f"${{{text}}}: unknown attribute {attr!r}; known forms: {FORMS}")
    if kind == "proxy" and port is not None:
        raise RefError(f"${{{text}}}: a proxy has one port; drop the .{port}")
    where: Where = "host" if attr in HOST_ATTRS else "network"
    return Ref(text, kind, name, attr, port, where)  # type: ignore[arg-type]


def refs_in(value: str) -> list[Ref]:
    return [parse_ref(m.group(1)) for m in REF_RE.finditer(value)]


@dataclass(frozen=True)
class ServiceAddress:
    name: str
    ports: Mapping[int, int]  # container port -> host port on 127.0.0.1 (empty before start)
    declared_ports: tuple[int, ...]


@dataclass(frozen=True)
class ProxyAddress:
    name: str
    listen_port: int  # inside the toxiproxy container
    host_port: int | None  # published on 127.0.0.1


@dataclass(frozen=True)
class Addresses:
    """What references resolve against. Host ports are None/empty before the stack is up."""

    run_id: str
    toxiproxy_host: str
    services: Mapping[str, ServiceAddress]
    proxies: Mapping[str, ProxyAddress]

    def resolve(self, value: str) -> str:
        return REF_RE.sub(lambda m: self._one(parse_ref(m.group(1))), value)

    def _one(self, ref: Ref) -> str:
        if ref.kind == "run":
            return self.run_id
        if ref.kind == "proxy":
            proxy = self.proxies[ref.name]
            if ref.where == "network":
                return f"{self.toxiproxy_host}:{proxy.listen_port}"
            if proxy.host_port is None:
                raise RefError(f"${{{ref.text}}} is a host address, known only once the stack is up")
            host_port = f"127.0.0.1:{proxy.host_port}"
            return f"http://{host_port}" if ref.attr == "url" else host_port
        service = self.services[ref.name]
        port = ref.port if ref.port is not None else (service.declared_ports[0] if service.declared_ports else None)
        if ref.where == "network":
            return service.name if port is None else f"{service.name}:{port}"
        if port is None or port not in service.ports:
            raise RefError(f"${{{ref.text}}}: service {ref.name} publishes no port {port}")
        host_port = f"127.0.0.1:{service.ports[port]}"
        return f"http://{host_port}" if ref.attr == "url" else host_port
