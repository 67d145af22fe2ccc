"""``dns_override``: a name a service looks up points at the wrong address while the fault lasts."""

from __future__ import annotations

from typing import Any

from docker.errors import DockerException, NotFound
from docker.models.containers import Container
from pydantic import BaseModel, ConfigDict, Field

from faultdrill.plugins.api import FaultKind, FaultTarget, Healed, HealError, HealTarget
from faultdrill_dns import hosts


class DnsOverrideSpec(BaseModel):
    """What a scenario writes under ``dns_override:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(description="the service whose lookups go wrong")
    host: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$", description="the name it looks up, e.g. backend")
    address: str = Field("192.0.2.1", pattern=r"^[0-9a-fA-F.:]+$",
                         description="where the name now points: the default (TEST-NET-1) is a black hole "
                                     "where connects time out; a live address gets the calls instead")


class DnsOverride(FaultKind[DnsOverrideSpec]):
    """A name a service looks up points at the wrong address (a marked line in its /etc/hosts)."""

    spec_model = DnsOverrideSpec

    def __init__(self, spec: DnsOverrideSpec, target: FaultTarget) -> None:
        super().__init__(spec, target)
        self.container = target.container(spec.service)
        self.mark = hosts.marker(target.fault_name)

    def journal_record(self) -> dict[str, Any]:
        return {"key": ["dns_override", self.container.id, self.mark], "container": self.container.id,
                "name": self.container.name, "host": self.spec.host, "address": self.spec.address,
                "marker": self.mark}

    def apply(self) -> None:
        _run(self.container, hosts.add_line(self.spec.address, self.spec.host, self.mark), ok=(0,))

    def heal(self) -> None:
        _run(self.container, hosts.remove_line(self.mark), ok=(0, 3))

    @classmethod
    def heal_from_record(cls, record: dict[str, Any], target: HealTarget) -> Healed:
        try:
            container = target.docker().containers.get(record["container"])
            if container.status != "running":
                raise HealError(f"cannot edit /etc/hosts in {container.name}: it is {container.status}",
                                hint="start it and run `faultdrill clean` again, or remove the stack")
            code = _run(container, hosts.remove_line(record["marker"]), ok=(0, 3))
        except NotFound:
            return Healed(False, "its container is gone (the override went with it)")
        except DockerException as exc:
            raise HealError(f"Docker refused: {exc}") from None
        if code == 3:
            return Healed(False, "no override line left in /etc/hosts")
        return Healed(True, f"{record['host']} resolves normally again")

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        where = record.get("name") or str(record.get("container", "?"))[:12]
        return f"DNS override {record.get('host')} → {record.get('address')} in {where}"


def _run(container: Container, cmd: list[str], ok: tuple[int, ...]) -> int:
    result = container.exec_run(cmd, user="root")
    if result.exit_code not in ok:
        output = result.output.decode(errors="replace").strip()[:200] if isinstance(result.output, bytes) else ""
        raise HealError(f"`{cmd[-1]}` in {container.name} exited {result.exit_code}: {output}")
    return int(result.exit_code)
