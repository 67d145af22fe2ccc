"""The built-in sampler kinds, registered under ``faultdrill.samplers`` like any package's.

Each is on unless the scenario says ``record.<name>: false``, and decides which samplers a running
stack gets: connections and resources for every container (Toxiproxy's too), app metrics for services
that declare ``metrics:``, nginx counters for ``stub_status:``, the database probe for ``postgres:``,
per-proxy traffic when the stack has Toxiproxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultdrill.plugins.api import NoOptions, SamplerKind, SamplerTarget

if TYPE_CHECKING:
    from docker.models.containers import Container

    from faultdrill.recorder.sampling import Sampler


def _containers(target: SamplerTarget) -> dict[str, Container]:
    from faultdrill.stack.stack import TOXIPROXY_ALIAS

    containers = dict(target.stack.containers)
    if target.stack.toxiproxy_container is not None:
        containers[TOXIPROXY_ALIAS] = target.stack.toxiproxy_container
    return containers


class ConnectionsKind(SamplerKind[NoOptions]):
    """TCP connections per service by state and peer, from each container's own netns (connections.csv)."""

    default_on = True

    @classmethod
    def samplers(cls, target: SamplerTarget, options: NoOptions) -> list[Sampler]:
        from faultdrill.recorder.samplers.connections import ConnectionsSampler, PeerDirectory
        from faultdrill.stack.plan import proxy_listen_ports
        from faultdrill.stack.stack import TOXIPROXY_ALIAS

        stack, scenario = target.stack, target.scenario
        containers = _containers(target)
        if not containers:
            return []
        proxy_ports = proxy_listen_ports(scenario) if stack.toxiproxy_container is not None else {}
        peers = PeerDirectory(stack.network, {str(c.id): name for name, c in containers.items()}, proxy_ports,
                              TOXIPROXY_ALIAS)
        out: list[Sampler] = []
        for name, container in containers.items():
            declared = scenario.stack.services[name].ports if name in scenario.stack.services \
                else list(proxy_ports.values())
            out.append(ConnectionsSampler(name, container, peers, declared_ports=declared))
        return out


class ResourcesKind(SamplerKind[NoOptions]):
    """CPU, memory, pids, network, restarts per container, from Docker stats (resources.csv)."""

    default_on = True

    @classmethod
    def samplers(cls, target: SamplerTarget, options: NoOptions) -> list[Sampler]:
        from faultdrill.recorder.samplers.resources import ResourcesSampler

        containers = _containers(target)
        return [ResourcesSampler(containers, target.docker_client)] if containers else []


class AppMetricsKind(SamplerKind[NoOptions]):
    """A service's Prometheus endpoint, for services that declare metrics: (app_metrics.csv)."""

    default_on = True

    @classmethod
    def samplers(cls, target: SamplerTarget, options: NoOptions) -> list[Sampler]:
        from faultdrill.recorder.samplers.app_metrics import AppMetricsSampler

        return [AppMetricsSampler.for_service(name, svc.metrics, list(svc.ports), target.host_ports(name),
                                              timeout=0.8 * target.interval)
                for name, svc in target.scenario.stack.services.items() if svc.metrics is not None]


class IngressKind(SamplerKind[NoOptions]):
    """nginx stub_status counters, for services that declare stub_status: (ingress.csv)."""

    default_on = True

    @classmethod
    def samplers(cls, target: SamplerTarget, options: NoOptions) -> list[Sampler]:
        from faultdrill.recorder.samplers.ingress import IngressSampler

        return [IngressSampler.for_service(name, svc.stub_status, target.host_ports(name),
                                           timeout=0.8 * target.interval)
                for name, svc in target.scenario.stack.services.items() if svc.stub_status is not None]


class DatabaseKind(SamplerKind[NoOptions]):
    """PostgreSQL statistics views, for services that declare postgres: (db.csv)."""

    default_on = True

    @classmethod
    def samplers(cls, target: SamplerTarget, options: NoOptions) -> list[Sampler]:
        from faultdrill.recorder.samplers.database import DbSampler

        containers = target.stack.containers
        return [DbSampler.for_service(name, svc.postgres, containers[name], target.host_ports(name),
                                      timeout=max(0.8 * target.interval, 0.5))
                for name, svc in target.scenario.stack.services.items()
                if svc.postgres is not None and name in containers]


class ProxiesKind(SamplerKind[NoOptions]):
    """Per-proxy traffic and state from the Toxiproxy API, when the stack has proxies (proxies.csv)."""

    default_on = True

    @classmethod
    def samplers(cls, target: SamplerTarget, options: NoOptions) -> list[Sampler]:
        from faultdrill.recorder.samplers.proxies import ProxiesSampler

        stack = target.stack
        assert stack.info is not None
        if stack.toxiproxy_container is None or not stack.info.toxiproxy_api:
            return []
        return [ProxiesSampler(stack.info.toxiproxy_api, stack.toxiproxy_container,
                               timeout=0.8 * target.interval)]
