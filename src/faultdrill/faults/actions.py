"""What a fault does to the target, as an action that can be applied, reverted and journaled.

Every action describes itself as a JSON-able dict with a stable ``key`` and what a later
process needs to undo it (``faults.healing.revert_recorded``), so a killed run can be healed from
its journal. What undoing needs and can only be read from the target (a proxy's upstream before
it is replaced) is read in ``prepare``, before the journal line is written.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from docker.models.containers import Container

from faultdrill.errors import InfraError
from faultdrill.plugins.api import FaultKind, FaultTarget
from faultdrill.scenario.fault_model import ContainerFault, ExecFault, Fault, ProxyFault, SqlFault, StressFault, Toxic
from faultdrill.scenario.model import Scenario
from faultdrill.toxiproxy.client import ToxiproxyClient


class Action(Protocol):
    def prepare(self) -> None:
        """Read from the target what ``revert`` will need; change nothing. Called before journaling."""

    def describe(self) -> dict[str, Any]: ...
    def apply(self) -> None: ...
    def revert(self) -> None: ...


class NothingToPrepare:
    """For actions whose journal line already holds all that undoing them needs."""

    def prepare(self) -> None:
        return None


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "fault"


def toxic_name(fault_name: str) -> str:
    return "fd-" + slug(fault_name)


# --------------------------------------------------------------------------- Toxiproxy
@dataclass
class ToxicAction(NothingToPrepare):
    client: ToxiproxyClient
    name: str
    toxic: Toxic
    attributes: dict[str, int] = field(default_factory=dict)
    toxicity: float | None = None

    def __post_init__(self) -> None:
        self.attributes = self.attributes or self.toxic.api_attributes()
        self.toxicity = self.toxic.toxicity if self.toxicity is None else self.toxicity

    def describe(self) -> dict[str, Any]:
        return {"type": "toxic", "key": ["toxic", self.client.api_url, self.toxic.proxy, self.name],
                "api": self.client.api_url, "proxy": self.toxic.proxy, "toxic": self.name,
                "toxic_type": self.toxic.type, "stream": self.toxic.stream, "toxicity": self.toxicity,
                "attributes": self.attributes}

    def apply(self) -> None:
        self.client.add_toxic(self.toxic.proxy, self.name, self.toxic.type, self.attributes,
                              stream=self.toxic.stream, toxicity=self.toxicity or 0.0)

    def update(self, attributes: dict[str, int], toxicity: float | None) -> None:
        self.attributes = {**self.attributes, **attributes}
        if toxicity is not None:
            self.toxicity = toxicity
        self.client.update_toxic(self.toxic.proxy, self.name, attributes, toxicity)

    def revert(self) -> None:
        self.client.remove_toxic(self.toxic.proxy, self.name, missing_ok=True)


@dataclass
class ProxyAction:
    client: ToxiproxyClient
    spec: ProxyFault
    previous_upstream: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"type": "proxy", "key": ["proxy", self.client.api_url, self.spec.proxy, self.spec.action],
                "api": self.client.api_url, "proxy": self.spec.proxy, "action": self.spec.action,
                "upstream": self.spec.upstream, "previous_upstream": self.previous_upstream}

    def prepare(self) -> None:
        if self.spec.action == "upstream":  # the journal line must say what to restore
            proxies = self.client.proxies()
            if self.spec.proxy not in proxies:
                raise InfraError(f"proxy {self.spec.proxy!r} does not exist in Toxiproxy at {self.client.api_url}")
            self.previous_upstream = proxies[self.spec.proxy].upstream

    def apply(self) -> None:
        if self.spec.action == "down":
            self.client.update_proxy(self.spec.proxy, enabled=False)
        else:
            if self.previous_upstream is None:
                self.prepare()
            self.client.update_proxy(self.spec.proxy, upstream=self.spec.upstream)

    def revert(self) -> None:
        if self.spec.action == "down":
            self.client.update_proxy(self.spec.proxy, enabled=True)
        elif self.previous_upstream:
            self.client.update_proxy(self.spec.proxy, upstream=self.previous_upstream)


# --------------------------------------------------------------------------- containers
@dataclass
class ContainerAction(NothingToPrepare):
    container: Container
    spec: ContainerFault

    def describe(self) -> dict[str, Any]:
        return {"type": "container", "key": ["container", self.container.id, self.spec.action],
                "container": self.container.id, "name": self.container.name, "action": self.spec.action,
                "signal": self.spec.signal}

    def apply(self) -> None:
        action = self.spec.action
        if action == "kill":
            self.container.kill(signal=self.spec.signal)
        elif action == "stop":
            self.container.stop(timeout=10)
        elif action == "pause":
            self.container.pause()
        elif action == "start":
            self.container.start()
        else:
            self.container.restart(timeout=10)

    def revert(self) -> None:
        if self.spec.action == "start":
            self.container.stop(timeout=5)
        else:
            heal_container(self.container)


def heal_container(container: Container) -> None:
    container.reload()
    status = container.status
    if status == "paused":
        container.unpause()
    elif status in ("exited", "created", "dead"):
        container.start()


@dataclass
class ExecAction(NothingToPrepare):
    container: Container
    spec: ExecFault
    fault_name: str

    def describe(self) -> dict[str, Any]:
        return {"type": "exec", "key": ["exec", self.container.id, self.fault_name],
                "container": self.container.id, "name": self.container.name, "command": self.spec.command,
                "undo": self.spec.undo}

    def apply(self) -> None:
        exec_checked(self.container, self.spec.command, wait_s=5.0)

    def revert(self) -> None:
        if self.spec.undo:
            exec_checked(self.container, self.spec.undo, wait_s=30.0)


def exec_checked(container: Container, command: list[str], wait_s: float, env: dict[str, str] | None = None) -> None:
    """Start ``command`` in the container; fail if it exits non-zero within ``wait_s`` (it may run on)."""
    assert container.client is not None  # a container from the SDK carries its client
    api = container.client.api
    exec_id = api.exec_create(container.id, command, environment=env)["Id"]
    api.exec_start(exec_id, detach=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        info = api.exec_inspect(exec_id)
        if not info["Running"]:
            if info["ExitCode"] not in (0, None):
                raise InfraError(f"`{shlex.join(command)}` in {container.name} exited {info['ExitCode']}")
            return
        time.sleep(0.1)


@dataclass
class SqlAction(NothingToPrepare):
    container: Container
    spec: SqlFault
    fault_name: str
    user: str
    database: str
    password: str | None

    @property
    def app_name(self) -> str:
        return f"faultdrill-{slug(self.fault_name)}"[:60]

    def describe(self) -> dict[str, Any]:
        return {"type": "sql", "key": ["sql", self.container.id, self.fault_name], "container": self.container.id,
                "name": self.container.name,
                "application_name": self.app_name, "user": self.user, "database": self.database,
                "statements": self.spec.statements, "hold": self.spec.hold}

    def _env(self) -> dict[str, str]:
        env = {"PGAPPNAME": self.app_name}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def apply(self) -> None:
        body = "; ".join(s.rstrip(";") for s in self.spec.statements)
        if self.spec.hold:  # one transaction, kept open until healed (bounded: at most a day)
            sql = f"BEGIN; {body}; SELECT pg_sleep(86400);"
            exec_checked(self.container, ["psql", "-v", "ON_ERROR_STOP=1", "-U", self.user, "-d", self.database,
                                           "-c", sql], wait_s=1.5, env=self._env())
        else:
            exec_checked(self.container, ["psql", "-v", "ON_ERROR_STOP=1", "-U", self.user, "-d", self.database,
                                           "-c", body], wait_s=60, env=self._env())

    def revert(self) -> None:
        if self.spec.hold:
            terminate_sessions(self.container, self.user, self.database, self.app_name, self.password)


def terminate_sessions(container: Container, user: str, database: str, app_name: str, password: str | None) -> None:
    sql = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app_name}'"
    env = {"PGPASSWORD": password} if password else None
    result = container.exec_run(["psql", "-U", user, "-d", database, "-Atc", sql], environment=env)
    if result.exit_code != 0:
        raise InfraError(f"could not end the lock holder in {container.name}: {cast(bytes, result.output).decode()[:200]}")


@dataclass
class StressAction(NothingToPrepare):
    container: Container
    spec: StressFault
    fault_name: str

    @property
    def pid_file(self) -> str:
        return f"/tmp/faultdrill-stress-{slug(self.fault_name)}.pids"

    def describe(self) -> dict[str, Any]:
        return {"type": "stress", "key": ["stress", self.container.id, self.fault_name],
                "container": self.container.id, "name": self.container.name, "pid_file": self.pid_file, "cpu": self.spec.cpu,
                "memory": self.spec.memory}

    def apply(self) -> None:
        pids = shlex.quote(self.pid_file)
        for _ in range(self.spec.cpu):
            exec_checked(self.container, ["sh", "-c", f"echo $$ >> {pids}; while :; do :; done"], wait_s=0.2)
        if self.spec.memory:
            size = shlex.quote(self.spec.memory)
            exec_checked(self.container, ["sh", "-c", f"echo $$ >> {pids}; x=$(head -c {size} /dev/zero | tr '\\0' x); "
                                                       "sleep 86400"], wait_s=0.2)

    def revert(self) -> None:
        kill_pid_file(self.container, self.pid_file)


def kill_pid_file(container: Container, pid_file: str) -> None:
    quoted = shlex.quote(pid_file)
    container.exec_run(["sh", "-c", f"[ -f {quoted} ] && kill $(cat {quoted}) 2>/dev/null; rm -f {quoted}; true"])


# --------------------------------------------------------------------------- building
@dataclass
class KindAction:
    """One fault's instance of its kind (``plugins.api.FaultKind``), as the engine's ``Action``.

    The journal line is the kind's record, with the kind's name as ``type``, a ``key`` (the record's,
    or the kind and the fault's name), the fault's name and the package that provides the kind (so
    ``clean`` on a machine without it can say what to install)."""

    kind: str
    package: str
    fault: FaultKind[Any]

    def prepare(self) -> None:
        self.fault.prepare()

    def describe(self) -> dict[str, Any]:
        record = dict(self.fault.journal_record())
        record["type"] = self.kind
        record.setdefault("key", [self.kind, self.fault.target.fault_name])
        record.setdefault("fault", self.fault.target.fault_name)
        record.setdefault("package", self.package)
        return record

    def apply(self) -> None:
        self.fault.apply()

    def revert(self) -> None:
        self.fault.heal()

    def update(self, attributes: dict[str, int], toxicity: float | None) -> None:
        """A ramp step, for the kinds that take ``ramp:`` (toxics)."""
        update = getattr(self.fault, "update", None)
        if update is None:
            raise TypeError(f"fault kind {self.kind!r} cannot ramp")
        update(attributes, toxicity)


def action_for(fault: Fault, scenario: Scenario, toxiproxy: ToxiproxyClient | None,
               containers: dict[str, Container]) -> KindAction:
    """The fault's kind, from the registry of installed kinds (the built-ins too), made for this stack."""
    from faultdrill.plugins.registry import registry

    entry = registry().fault_entry(fault.kind)
    target = FaultTarget(fault.name, scenario, containers, toxiproxy)
    return KindAction(fault.kind, entry.package, entry.obj(fault.spec, target))
