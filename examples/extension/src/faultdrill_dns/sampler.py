"""``resolved_hosts``: what a service resolves names to, each tick (``resolved_hosts.csv``)."""

from __future__ import annotations

from docker.models.containers import Container
from pydantic import BaseModel, ConfigDict, Field

from faultdrill.plugins.api import Sampler, SamplerKind, SamplerTarget
from faultdrill_dns import hosts


class ResolvedHostsOptions(BaseModel):
    """What a scenario writes under ``record.samplers.resolved_hosts:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(description="the service whose resolver is asked")
    hosts: list[str] = Field(min_length=1, max_length=20, description="the names to look up each tick")


class ResolvedHostsSampler(Sampler):
    def __init__(self, service: str, container: Container, names: list[str]) -> None:
        self.name = "resolved_hosts"
        self.columns = ["service", "host", "address"]
        self.service = service
        self.container = container
        self.names = names
        self.label = f"resolved_hosts:{service}"

    def sample(self) -> list[dict[str, object]]:
        result = self.container.exec_run(hosts.lookup(self.names))
        if result.exit_code != 0:
            raise RuntimeError(f"getent in {self.container.name} exited {result.exit_code}")
        output = result.output if isinstance(result.output, bytes) else b""
        found = hosts.parse_lookup(output.decode(errors="replace"))
        return [{"service": self.service, "host": h, "address": found.get(h, "")} for h in self.names]


class ResolvedHosts(SamplerKind[ResolvedHostsOptions]):
    """What a service resolves names to, each tick, as its own calls see it (/etc/hosts, then DNS)."""

    options_model = ResolvedHostsOptions

    @classmethod
    def samplers(cls, target: SamplerTarget, options: ResolvedHostsOptions) -> list[Sampler]:
        container = target.containers.get(options.service)
        if container is None:
            return []
        return [ResolvedHostsSampler(options.service, container, options.hosts)]
