"""A scenario's stack, running in Docker: network, Toxiproxy, services, health, teardown.

``DockerStack`` is a context manager. Everything it creates carries the run's label;
``__exit__`` removes all of it, and so does a failed ``__enter__``.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.volumes import Volume

from docker import DockerClient
from faultdrill.errors import InfraError
from faultdrill.scenario import transparent
from faultdrill.scenario.model import Scenario
from faultdrill.scenario.refs import Addresses, ProxyAddress, ServiceAddress
from faultdrill.stack import container_options, images, labels
from faultdrill.stack.health import container_log_tail, wait_healthy
from faultdrill.stack.plan import proxy_listen_ports, start_order
from faultdrill.toxiproxy.client import ToxiproxyClient

TOXIPROXY_ALIAS = "toxiproxy"
HEAL_TIMEOUT_S = 15.0  # Toxiproxy API calls of the fault engine (see DockerStack._start_toxiproxy)
Log = Callable[[str], None]


@dataclass
class StackInfo:
    """What a started stack is: for run.json, `faultdrill up --json`, and the recorder."""

    run_id: str
    network: str
    toxiproxy_kind: str
    toxiproxy_image: str
    toxiproxy_api: str
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    proxies: dict[str, dict[str, Any]] = field(default_factory=dict)
    startup_seconds: float = 0.0
    wiring: list[dict[str, Any]] = field(default_factory=list)  # who reaches what through which proxy
    source: str | None = None  # the compose file, for a compose stack
    source_sha256: str | None = None


class DockerStack:
    def __init__(self, client: DockerClient, scenario: Scenario, base_dir: Path, run_id: str,
                 log: Log = lambda _: None) -> None:
        self.client = client
        self.scenario = scenario
        self.base_dir = base_dir
        self.run_id = run_id
        self.log = log
        self.network: Network | None = None
        self.containers: dict[str, Container] = {}
        self.toxiproxy_container: Container | None = None
        self.toxiproxy: ToxiproxyClient | None = None
        self.addresses: Addresses | None = None
        self.info: StackInfo | None = None
        self.volume_names: dict[str, str] = {}
        self.created_volumes: list[Volume] = []
        self.owns_network = False  # False for an attached stack's network: the user's, never removed

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DockerStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        t0 = time.monotonic()
        service_images = self._images()
        tp_image = None
        if self.scenario.proxies:
            settings = self.scenario.toxiproxy
            tp_image = images.ensure_toxiproxy(self.client, settings.server, settings.official_image, self.log)
        self.network = self._network()
        self.volume_names, self.created_volumes = container_options.ensure_volumes(
            self.client, self.run_id, self.scenario.stack.volumes)
        listen_ports = proxy_listen_ports(self.scenario)
        proxy_addresses: dict[str, ProxyAddress] = {}
        api_url = ""
        if tp_image is not None:
            api_url, proxy_addresses = self._start_toxiproxy(tp_image, listen_ports)
        services = {name: ServiceAddress(name, {}, tuple(svc.ports))
                    for name, svc in self.scenario.stack.services.items()}
        self.addresses = Addresses(self.run_id, TOXIPROXY_ALIAS, services, proxy_addresses)
        self.info = StackInfo(self.run_id, str(self.network.name), tp_image.kind if tp_image else "none",
                              tp_image.image if tp_image else "", api_url,
                              wiring=[w.as_dict() for w in transparent.wiring(self.scenario, listen_ports, TOXIPROXY_ALIAS)],
                              source=self.scenario.stack.source, source_sha256=_sha256(self.scenario.stack.source))
        for name in start_order(self.scenario):
            self._start_service(name, service_images[name])
        self.addresses = Addresses(self.run_id, TOXIPROXY_ALIAS, {
            name: ServiceAddress(name, {int(k): v for k, v in self.info.services[name]["ports"].items()},
                                 tuple(self.scenario.stack.services[name].ports))
            for name in self.scenario.stack.services}, proxy_addresses)
        self.info.startup_seconds = round(time.monotonic() - t0, 2)

    def _network(self) -> Network:
        attach = self.scenario.stack.attach
        if attach is None:
            self.owns_network = True
            return self.client.networks.create(
                f"faultdrill-{self.run_id}", driver="bridge", labels=labels.run_labels(self.run_id, "network"))
        try:
            network = self.client.networks.get(attach.network)
        except docker.errors.NotFound:
            raise InfraError(f"no Docker network {attach.network!r} to attach to",
                             hint="start your stack first; `docker network ls` lists the networks") from None
        self.log(f"attaching to the running stack on network {network.name} (nothing of it is started or removed)")
        _check_upstreams(network, self.scenario)
        return network

    def _images(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, svc in self.scenario.stack.services.items():
            if svc.build is not None:
                out[name] = images.ensure_service_image(
                    self.client, (self.base_dir / svc.build).resolve(), svc.docker.build if svc.docker else None,
                    self.scenario.stack.source is not None, self.log)
            else:
                assert svc.image is not None
                if not images.image_exists(self.client, svc.image) and not images.try_pull(self.client, svc.image, log=self.log):
                    raise InfraError(f"service {name!r}: image {svc.image!r} is not present and cannot be pulled",
                                     hint="build or load it first, or use build: DIR")
                out[name] = svc.image
        return out

    def _start_toxiproxy(self, tp: images.ToxiproxyImage, listen_ports: dict[str, int]) -> tuple[str, dict[str, ProxyAddress]]:
        ports = {f"{tp.api_port}/tcp": ("127.0.0.1", free_port())}
        for port in listen_ports.values():
            ports[f"{port}/tcp"] = ("127.0.0.1", free_port())
        self.log(f"starting Toxiproxy ({tp.kind}: {tp.image})")
        aliases = [TOXIPROXY_ALIAS, *transparent.toxiproxy_aliases(self.scenario)]
        container = self._run(tp.image, "toxiproxy", aliases, command=tp.command, ports=ports,
                              environment={}, role="toxiproxy")
        self.toxiproxy_container = container
        host_ports = _published(container, {tp.api_port, *listen_ports.values()})
        api_url = f"http://127.0.0.1:{host_ports[tp.api_port]}"
        # Removing a toxic flushes what it holds to the connections' readers; a reader that stalls makes
        # the server wait for it (the compatible server gives up on a link after 10 s and closes it).
        # The fault engine waits longer than that, so a slow heal is an answer, not a failed heal.
        self.toxiproxy = ToxiproxyClient(api_url, timeout=HEAL_TIMEOUT_S)
        try:
            self.toxiproxy.wait_ready(30)
        except InfraError as exc:
            raise InfraError(f"{exc}\n--- last log lines of toxiproxy ---\n{container_log_tail(container)}") from None
        proxy_addresses = {}
        for name in self.scenario.proxies:
            self.toxiproxy.create_proxy(name, f"0.0.0.0:{listen_ports[name]}", transparent.upstream(self.scenario, name))
            proxy_addresses[name] = ProxyAddress(name, listen_ports[name], host_ports[listen_ports[name]])
        return api_url, proxy_addresses

    def _start_service(self, name: str, image: str) -> None:
        svc = self.scenario.stack.services[name]
        assert self.addresses is not None and self.info is not None
        env = {k: self.addresses.resolve(v) for k, v in svc.env.items()}
        command: list[str] | str | None
        if isinstance(svc.command, str):
            command = self.addresses.resolve(svc.command)
        else:
            command = [self.addresses.resolve(c) for c in svc.command] if svc.command else None
        # fixed host ports, so a container that a fault stops or kills comes back on the same port
        host_ports = {p: free_port() for p in svc.ports}
        ports = {f"{p}/tcp": ("127.0.0.1", host) for p, host in host_ports.items()}
        self.log(f"{'starting' if svc.autostart else 'creating (started later by a fault)'} {name} ({image})")
        container = self._run(image, name, transparent.service_aliases(self.scenario, name), command=command,
                              ports=ports, environment=env, role="service", start=svc.autostart,
                              pids_limit=svc.pids_limit, mem_limit=svc.mem_limit,
                              nano_cpus=int(svc.cpus * 1e9) if svc.cpus else None,
                              **container_options.create_kwargs(svc.docker, self.volume_names))
        self.containers[name] = container
        self.info.services[name] = {"container": container.name, "image": image,
                                    "ports": {str(k): v for k, v in host_ports.items()}, "healthy_after_s": None}
        if not svc.autostart:
            return
        if svc.docker is not None and svc.docker.completes:
            waited = container_options.wait_completed(name, container)
            self.info.services[name]["completed_after_s"] = round(waited, 2)
            self.log(f"{name} completed after {waited:.1f}s")
            return
        _published(container, set(svc.ports))
        waited = wait_healthy(name, container, svc.health, host_ports, svc.ports[0] if svc.ports else None)
        self.info.services[name]["healthy_after_s"] = round(waited, 2)
        self.log(f"{name} healthy after {waited:.1f}s")

    def _run(self, image: str, name: str, aliases: list[str], *, command: list[str] | str | None, ports: dict[str, tuple[str, int]],
             environment: dict[str, str], role: str, start: bool = True, **limits: Any) -> Container:
        assert self.network is not None
        endpoint = self.client.api.create_endpoint_config(aliases=aliases)
        # run(detach=True) and create() both answer the Container (the SDK's overloads cannot say which is picked)
        create: Callable[..., Container] = self.client.containers.run if start else self.client.containers.create
        try:
            return create(
                image, command=command, name=f"fd-{self.run_id}-{name}", detach=True,
                environment=environment, ports=ports, labels=labels.run_labels(self.run_id, role, name),
                network=self.network.name, networking_config={str(self.network.name): endpoint},
                **{k: v for k, v in limits.items() if v is not None})
        except docker.errors.APIError as exc:
            raise InfraError(f"cannot start {name!r} from {image}: {exc.explanation or exc}") from None

    def close(self) -> None:
        """Remove every container and the network of this run. Safe to call twice."""
        if self.toxiproxy is not None:
            self.toxiproxy.close()
        for container in [*reversed(list(self.containers.values())), self.toxiproxy_container]:
            if container is None:
                continue
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                self.log(f"could not remove {container.name}: {exc}")
        self.containers.clear()
        self.toxiproxy_container = None
        if self.network is not None and self.owns_network:
            try:
                self.network.remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                self.log(f"could not remove network {self.network.name}: {exc}")
        self.network = None
        for volume in self.created_volumes:  # only volumes this run created; external ones are the user's
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                self.log(f"could not remove volume {volume.name}: {exc}")
        self.created_volumes = []

    def detach(self) -> None:
        """Leave the stack running (``faultdrill up``): ``close`` will no longer remove it."""
        if self.toxiproxy is not None:
            self.toxiproxy.close()
        self.toxiproxy = None
        self.containers = {}
        self.toxiproxy_container = None
        self.network = None
        self.created_volumes = []

    # ------------------------------------------------------------------ for the rest of the run

def _check_upstreams(network: Network, scenario: Scenario) -> None:
    """Every proxy's upstream host must answer on the attached network (a container name or alias)."""
    network.reload()
    names: set[str] = set()
    for container_id in (network.attrs.get("Containers") or {}):
        try:
            info = network.client.api.inspect_container(container_id)  # type: ignore[union-attr]  # a listed network has its client
        except docker.errors.NotFound:
            continue
        names.add(info["Name"].lstrip("/"))
        endpoint = (info.get("NetworkSettings", {}).get("Networks") or {}).get(network.name) or {}
        names.update(endpoint.get("Aliases") or [])
        names.update(endpoint.get("DNSNames") or [])
    missing = [p.upstream for p in scenario.proxies.values() if p.upstream.rpartition(":")[0] not in names]
    if missing:
        raise InfraError(f"on network {network.name}, nothing answers to {', '.join(missing)}",
                         hint=f"names there: {', '.join(sorted(names)) or 'none'}")


def _sha256(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _published(container: Container, wanted: set[int], timeout: float = 10.0) -> dict[int, int]:
    """Container port -> host port on 127.0.0.1 for the ports we published, once Docker assigned them."""
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        mapping = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
        out = {int(k.split("/")[0]): int(v[0]["HostPort"]) for k, v in mapping.items() if v}
        out = {k: v for k, v in out.items() if k in wanted}
        if set(out) == wanted:
            return out
        if time.monotonic() > deadline:
            raise InfraError(f"Docker did not publish ports {sorted(wanted - set(out))} of {container.name}")
        time.sleep(0.1)
