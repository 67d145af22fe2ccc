"""The built-in fault kinds, as plugins: registered under ``faultdrill.faults`` in faultdrill's own
``pyproject.toml`` like any other package's, found by the same registry.

Each wraps the action that does the work (``faults.actions``) and heals from a journal record with
``faults.healing``. Their journal records are the actions' ``describe()`` lines, unchanged, so the
reaper (which cannot import plugins, and heals these six itself) and older journals keep working.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from faultdrill.plugins.api import FaultKind, FaultTarget, Healed, HealTarget, Loc
from faultdrill.scenario.fault_model import (
    TOXIC_ATTRIBUTES,
    ContainerFault,
    ExecFault,
    Fault,
    ProxyFault,
    SqlFault,
    StressFault,
    Toxic,
)

if TYPE_CHECKING:  # the actions import the Docker SDK: only when a drill builds or heals a fault
    from faultdrill.faults.actions import Action, ToxicAction
    from faultdrill.scenario.model import Scenario


class _ActionKind(FaultKind[Any]):
    """A built-in kind: the work is done by an ``Action``; its ``describe()`` is the journal record."""

    action: Action

    def prepare(self) -> None:
        self.action.prepare()

    def apply(self) -> None:
        self.action.apply()

    def heal(self) -> None:
        self.action.revert()

    def journal_record(self) -> dict[str, Any]:
        return self.action.describe()

    @classmethod
    def heal_from_record(cls, record: dict[str, Any], target: HealTarget) -> Healed:
        from faultdrill.faults.healing import heal_container_record

        return heal_container_record(record, target)


def _proxy_problems(proxy: str, scenario: Scenario) -> Iterable[tuple[Loc, str, str | None]]:
    if proxy not in scenario.proxies:
        yield ("proxy",), f"no proxy named {proxy!r}", ", ".join(scenario.proxies) or "declare it under proxies: first"


def _toxiproxy(target: FaultTarget) -> Any:
    if target.toxiproxy is None:
        raise ValueError(f"fault {target.fault_name!r} needs Toxiproxy, and this stack has no proxies")
    return target.toxiproxy


class ToxicKind(_ActionKind):
    """A Toxiproxy toxic on a proxy: latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data."""

    spec_model = Toxic
    action: ToxicAction

    def __init__(self, spec: Toxic, target: FaultTarget) -> None:
        from faultdrill.faults.actions import ToxicAction, toxic_name

        super().__init__(spec, target)
        self.action = ToxicAction(_toxiproxy(target), toxic_name(target.fault_name), spec)

    def update(self, attributes: dict[str, int], toxicity: float | None) -> None:
        """A ramp step: the toxic's attributes moved (``ramp:``)."""
        self.action.update(attributes, toxicity)

    @classmethod
    def heal_from_record(cls, record: dict[str, Any], target: HealTarget) -> Healed:
        from faultdrill.faults.healing import heal_toxiproxy_record

        return heal_toxiproxy_record(record, target)

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        return f"toxic {record.get('toxic')} on proxy {record.get('proxy')}"

    @classmethod
    def problems(cls, spec: Toxic, scenario: Scenario) -> Iterable[tuple[Loc, str, str | None]]:
        yield from _proxy_problems(spec.proxy, scenario)

    @classmethod
    def timing_problem(cls, spec: Toxic, fault: Fault) -> str | None:
        if fault.ramp is None:
            return None
        if fault.for_ is None:
            return "ramp needs a toxic and a duration (for:)"
        for attr in ("latency", "jitter", "rate"):
            if getattr(fault.ramp, attr) is not None and attr not in TOXIC_ATTRIBUTES[spec.type]:
                return f"ramp.{attr} does not apply to a {spec.type} toxic"
        return None


class ProxyKind(_ActionKind):
    """Take a Toxiproxy proxy down, or point it at another upstream."""

    spec_model = ProxyFault

    def __init__(self, spec: ProxyFault, target: FaultTarget) -> None:
        from faultdrill.faults.actions import ProxyAction
        from faultdrill.scenario import transparent

        super().__init__(spec, target)
        if spec.upstream is not None:  # a service whose name a transparent proxy took is dialled directly
            spec = spec.model_copy(update={"upstream": transparent.dial(target.scenario, spec.upstream)})
        self.action = ProxyAction(_toxiproxy(target), spec)

    @classmethod
    def heal_from_record(cls, record: dict[str, Any], target: HealTarget) -> Healed:
        from faultdrill.faults.healing import heal_toxiproxy_record

        return heal_toxiproxy_record(record, target)

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        change = "down" if record.get("action") == "down" else f"upstream → {record.get('upstream')}"
        return f"proxy {record.get('proxy')} {change}"

    @classmethod
    def problems(cls, spec: ProxyFault, scenario: Scenario) -> Iterable[tuple[Loc, str, str | None]]:
        yield from _proxy_problems(spec.proxy, scenario)
        if spec.upstream and spec.upstream.rpartition(":")[0] not in scenario.stack.services:
            yield (("upstream",), f"upstream host {spec.upstream.rpartition(':')[0]!r} is not a service",
                   ", ".join(scenario.stack.services))


def _where(record: dict[str, Any]) -> str:
    return str(record.get("name") or str(record.get("container", "?"))[:12])


class ContainerKind(_ActionKind):
    """Kill, stop, pause or restart a service's container (healing starts or unpauses it), or start one
    created with ``autostart: false``."""

    spec_model = ContainerFault

    def __init__(self, spec: ContainerFault, target: FaultTarget) -> None:
        from faultdrill.faults.actions import ContainerAction

        super().__init__(spec, target)
        self.action = ContainerAction(target.container(spec.service), spec)

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        return f"container {record.get('action')} of {_where(record)}"

    @classmethod
    def timing_problem(cls, spec: ContainerFault, fault: Fault) -> str | None:
        if fault.repeat is not None and spec.action in ("kill", "restart"):
            return "repeat does not apply to kill/restart; use pause or stop"
        return super().timing_problem(spec, fault)


class ExecKind(_ActionKind):
    """Run a command in a service's container at the start; ``undo`` (if given) at the end."""

    spec_model = ExecFault

    def __init__(self, spec: ExecFault, target: FaultTarget) -> None:
        from faultdrill.faults.actions import ExecAction

        super().__init__(spec, target)
        self.action = ExecAction(target.container(spec.service), spec, target.fault_name)

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        return f"exec `{shlex.join(record.get('command') or [])}` in {_where(record)}"


class SqlKind(_ActionKind):
    """SQL statements in a PostgreSQL service; with ``hold``, a transaction kept open (locks held)."""

    spec_model = SqlFault

    def __init__(self, spec: SqlFault, target: FaultTarget) -> None:
        from faultdrill.faults.actions import SqlAction

        super().__init__(spec, target)
        probe = target.scenario.stack.services[spec.service].postgres
        user = spec.user or (probe.user if probe else "postgres")
        database = spec.database or (probe.database if probe else "postgres")
        self.action = SqlAction(target.container(spec.service), spec, target.fault_name, user, database,
                                probe.password if probe else None)

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        return f"SQL lock holder {record.get('application_name')} in {_where(record)}"

    @classmethod
    def problems(cls, spec: SqlFault, scenario: Scenario) -> Iterable[tuple[Loc, str, str | None]]:
        yield from super().problems(spec, scenario)
        services = scenario.stack.services
        if spec.service in services and services[spec.service].postgres is None and not (spec.user and spec.database):
            yield (("service",), f"service {spec.service!r} is not marked as a database",
                   f"add postgres: {{user: ..., database: ...}} to stack.services.{spec.service}, "
                   "or give sql.user and sql.database")


class StressKind(_ActionKind):
    """CPU busy loops and/or held memory inside a service's container."""

    spec_model = StressFault

    def __init__(self, spec: StressFault, target: FaultTarget) -> None:
        from faultdrill.faults.actions import StressAction

        super().__init__(spec, target)
        self.action = StressAction(target.container(spec.service), spec, target.fault_name)

    @classmethod
    def describe_record(cls, record: dict[str, Any]) -> str:
        return f"stress in {_where(record)}"
