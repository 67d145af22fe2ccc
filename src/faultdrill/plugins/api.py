"""The plugin API (version ``API_VERSION``): what a fault kind, a sampler kind and a journey pack are.

**Fault kind** — a :class:`FaultKind` subclass. Its ``spec_model`` (pydantic) is what a scenario writes
under the kind's name (``faults[i].<kind>: {...}``), validated with line numbers like every built-in
field. One instance is made per fault of a drill, with the fault's spec and a :class:`FaultTarget`
(the running stack). The engine calls ``prepare`` (read what healing will need; change nothing),
writes ``journal_record()`` to ``journal.jsonl``, then ``apply``; at the fault's end ``heal``. After a
crash, ``faultdrill clean`` (or the next ``run``) calls the class method ``heal_from_record`` with
the journal record alone: the record must hold everything healing needs (container ids, previous
values), and healing must be idempotent.

**Sampler kind** — a :class:`SamplerKind` subclass: ``options_model`` for ``record.samplers.<name>``,
and ``samplers(target, options)`` returning the :class:`Sampler` objects that apply to the running
stack. Each sampler is called once per tick of the run clock's grid; its rows go to
``results/<run>/<sampler.name>.csv`` with the leading ``t`` and ``wall`` columns.

**Journey pack** — a module with ``USER_CLASSES`` (Locust ``User`` subclasses), named by an entry
point in ``faultdrill.journeys`` and chosen with ``load.journeys: pack:NAME``. The module is imported
only by the load child process (Locust's gevent patching stays out of the orchestrator).

Versioning: a plugin class states the ``api_version`` it was written for (default: the version it
was imported with). Discovery refuses a class whose ``api_version`` differs from ``API_VERSION``
with a message naming the package; the version goes up only when a change breaks existing plugins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from faultdrill.errors import InfraError

if TYPE_CHECKING:
    from docker.models.containers import Container

    from docker import DockerClient
    from faultdrill.recorder.sampling import Sampler as RowSource
    from faultdrill.scenario.fault_model import Fault
    from faultdrill.scenario.model import Record, Scenario
    from faultdrill.stack.stack import DockerStack
    from faultdrill.toxiproxy.client import ToxiproxyClient

API_VERSION = 1

SpecT = TypeVar("SpecT", bound=BaseModel)
OptionsT = TypeVar("OptionsT", bound=BaseModel)
Loc = tuple[str | int, ...]


class HealError(InfraError):
    """A journaled fault that may still be active and could not be undone (``clean`` tries again)."""


@dataclass(frozen=True)
class Healed:
    """What healing from a journal record did: ``healed`` False means nothing was left to undo."""

    healed: bool
    detail: str


# --------------------------------------------------------------------------- fault kinds
@dataclass(frozen=True)
class FaultTarget:
    """The running stack, as a fault kind sees it when a drill builds its faults."""

    fault_name: str
    scenario: Scenario
    containers: Mapping[str, Container]  # service name -> its running container
    toxiproxy: ToxiproxyClient | None = None

    def container(self, service: str) -> Container:
        if service not in self.containers:
            raise InfraError(f"fault {self.fault_name!r}: service {service!r} has no running container",
                             hint="is it started with the stack (autostart)?")
        return self.containers[service]


@dataclass(frozen=True)
class HealTarget:
    """What healing from a journal record may use: the Docker engine (made on first use)."""

    timeout: float = 3.0
    docker_client: DockerClient | None = None
    _made: list[DockerClient] = field(default_factory=list, repr=False, compare=False)

    def docker(self) -> DockerClient:
        if self.docker_client is not None:
            return self.docker_client
        if not self._made:
            import docker

            self._made.append(docker.from_env(timeout=max(int(self.timeout * 10), 10)))
        return self._made[0]


class FaultKind(ABC, Generic[SpecT]):
    """One fault of a drill, of one kind. Subclass it, set ``spec_model``, register the class under
    ``faultdrill.faults`` with the kind's name (the key a scenario writes)."""

    spec_model: ClassVar[type[BaseModel]]
    api_version: ClassVar[int] = API_VERSION

    def __init__(self, spec: SpecT, target: FaultTarget) -> None:
        self.spec = spec
        self.target = target

    def prepare(self) -> None:
        """Read from the target what healing will need (it goes in the journal record); change nothing."""
        return None

    @abstractmethod
    def apply(self) -> None:
        """Break it. Called once per application (a flapping fault is applied and healed repeatedly)."""

    @abstractmethod
    def heal(self) -> None:
        """Undo ``apply``."""

    @abstractmethod
    def journal_record(self) -> dict[str, Any]:
        """JSON-able: everything ``heal_from_record`` needs, written before ``apply``. A ``key`` entry
        (a list) identifies the change; without one, the kind and the fault's name do."""

    @classmethod
    @abstractmethod
    def heal_from_record(cls, record: dict[str, Any], target: HealTarget) -> Healed:
        """Undo a fault known only from its journal record (the run that applied it died).
        Return ``Healed(False, why)`` when its target is gone with it; raise :class:`HealError` when it
        may still be there and cannot be undone now."""

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        """The fault in words a user can find on their stack (``faultdrill clean`` prints it)."""
        return f"{record.get('type')} fault {record.get('fault', '')!s}".strip()

    @classmethod
    def problems(cls, spec: SpecT, scenario: Scenario) -> Iterable[tuple[Loc, str, str | None]]:
        """Problems only the whole scenario shows, as (location under the kind's key, message, allowed).
        The default checks that a ``service`` field, if the spec has one, names a service."""
        service = getattr(spec, "service", None)
        if isinstance(service, str) and service not in scenario.stack.services:
            yield ("service",), f"no service named {service!r}", ", ".join(scenario.stack.services)

    @classmethod
    def timing_problem(cls, spec: SpecT, fault: Fault) -> str | None:
        """Whether this kind takes the fault's timing (``repeat`` flapping, ``ramp``); a message if not.
        The default takes ``repeat`` (apply and heal again and again) and no ``ramp``."""
        return "ramp applies to toxics only" if fault.ramp is not None else None

    @classmethod
    def summary(cls) -> str:
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


# --------------------------------------------------------------------------- samplers
class NoOptions(BaseModel):
    """A sampler kind that takes no options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampler(ABC):
    """Reads one kind of measurement right now; called once per tick, on its own thread."""

    name: str  # file stem: results/<run>/<name>.csv (samplers sharing a name share the file and columns)
    columns: list[str]  # after the leading t, wall
    label: str  # how logs and gaps name this one sampler (several may share a file)

    def open(self) -> None:
        """Called once before the first tick (take a session here); may raise, is retried per tick."""
        return None

    @abstractmethod
    def sample(self) -> list[dict[str, object]]:
        """This instant's rows (keys from ``columns``); may be slow; may raise to mark a gap."""

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class SamplerTarget:
    """The running stack, as a sampler kind sees it when the recorder starts."""

    stack: DockerStack
    record: Record
    docker_client: DockerClient

    @property
    def scenario(self) -> Scenario:
        return self.stack.scenario

    @property
    def interval(self) -> float:
        return float(self.record.interval)

    @property
    def containers(self) -> Mapping[str, Container]:
        return self.stack.containers

    def host_ports(self, service: str) -> dict[int, int]:
        """Container port -> its published 127.0.0.1 port, for a service's published ports."""
        assert self.stack.info is not None, "the stack is not started"
        ports = self.stack.info.services.get(service, {}).get("ports", {})
        return {int(k): int(v) for k, v in ports.items()}


class SamplerKind(ABC, Generic[OptionsT]):
    """Registered under ``faultdrill.samplers``: which samplers a stack gets, and with which options.

    A kind with ``default_on`` runs unless ``record.<name>: false`` (the built-ins); any other runs when
    the scenario names it under ``record.samplers`` (with its options)."""

    options_model: ClassVar[type[BaseModel]] = NoOptions
    default_on: ClassVar[bool] = False
    api_version: ClassVar[int] = API_VERSION

    @classmethod
    @abstractmethod
    def samplers(cls, target: SamplerTarget, options: OptionsT) -> Sequence[RowSource]:
        """The samplers that apply to this stack (none is fine)."""

    @classmethod
    def problems(cls, options: OptionsT, scenario: Scenario) -> Iterable[tuple[Loc, str, str | None]]:
        """Problems only the whole scenario shows. Default: a ``service`` option must name a service."""
        service = getattr(options, "service", None)
        if isinstance(service, str) and service not in scenario.stack.services:
            yield ("service",), f"no service named {service!r}", ", ".join(scenario.stack.services)

    @classmethod
    def summary(cls) -> str:
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())

