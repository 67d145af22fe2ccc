"""Undoing a fault known only from a journal line (a killed run's): healed, nothing left, or failed.

Three outcomes, because they ask different things of the user:

- **healed**: the fault was there and is undone;
- **nothing left**: its target is gone (container removed, Toxiproxy gone) or stopped, and the
  fault went with it — there is nothing to undo, ever;
- :class:`HealError`: the fault may still be there and could not be undone. The caller reports
  it and keeps the entry pending, so the next ``clean`` or ``run`` tries again (and finds
  *nothing left* once the stack it lived in is removed).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from docker.errors import DockerException, NotFound
from docker.models.containers import Container

import docker
from docker import DockerClient
from faultdrill.errors import InfraError
from faultdrill.faults.actions import exec_checked, heal_container, kill_pid_file, terminate_sessions
from faultdrill.toxiproxy.client import NotFound as ProxyNotFound
from faultdrill.toxiproxy.client import ToxiproxyClient, ToxiproxyError, ToxiproxyUnreachable

STOPPED = ("exited", "created", "dead")


class HealError(InfraError):
    """A journaled fault that may still be active and could not be undone."""


@dataclass(frozen=True)
class Reverted:
    healed: bool  # False: nothing was left to undo
    detail: str


def entry_name(action: dict[str, Any]) -> str:
    """What a journal entry is, in words a user can find on their stack (pure)."""
    kind = action.get("type")
    if kind == "toxic":
        return f"toxic {action.get('toxic')} on proxy {action.get('proxy')}"
    if kind == "proxy":
        change = "down" if action.get("action") == "down" else f"upstream → {action.get('upstream')}"
        return f"proxy {action.get('proxy')} {change}"
    where = action.get("name") or str(action.get("container", "?"))[:12]
    if kind == "container":
        return f"container {action.get('action')} of {where}"
    if kind == "exec":
        return f"exec `{shlex.join(action.get('command') or [])}` in {where}"
    if kind == "sql":
        return f"SQL lock holder {action.get('application_name')} in {where}"
    if kind == "stress":
        return f"stress in {where}"
    return f"{kind} fault"


def revert_recorded(action: dict[str, Any], timeout: float = 3.0,
                    docker_client: DockerClient | None = None) -> Reverted:
    """Undo one journaled action. Raises :class:`HealError` when it may still be there."""
    if action.get("type") in ("toxic", "proxy"):
        with ToxiproxyClient(action["api"], timeout=timeout) as client:
            return _revert_toxiproxy(client, action)
    engine = docker_client or docker.from_env(timeout=int(timeout * 10))
    try:
        container = engine.containers.get(action["container"])
        return _revert_in_container(container, action)
    except NotFound:
        return Reverted(False, "its container is gone (the fault went with it)")
    except DockerException as exc:
        raise HealError(f"Docker refused: {getattr(exc, 'explanation', None) or exc}") from None


def _revert_toxiproxy(client: ToxiproxyClient, action: dict[str, Any]) -> Reverted:
    proxy = action["proxy"]
    try:
        if action["type"] == "toxic":
            client.remove_toxic(proxy, action["toxic"], missing_ok=False)
            return Reverted(True, "toxic removed")
        if action["action"] == "down":
            client.update_proxy(proxy, enabled=True)
            return Reverted(True, "proxy enabled again")
        previous = action.get("previous_upstream")
        if not previous:
            if proxy not in client.proxies():
                raise ProxyNotFound(proxy)
            raise HealError(f"the journal does not say what proxy {proxy!r} pointed at before the fault "
                            f"(it was written before that was known)",
                            hint=f"set it back by hand (POST {client.api_url}/proxies/{proxy} "
                                 '{"upstream": …}) or remove the stack with `faultdrill clean`')
        client.update_proxy(proxy, upstream=previous)
        return Reverted(True, f"upstream restored to {previous}")
    except ToxiproxyUnreachable:
        return Reverted(False, "Toxiproxy is gone (the fault went with it)")
    except ProxyNotFound:
        return Reverted(False, f"proxy {proxy!r} or its toxic is gone (the fault went with it)")
    except HealError:
        raise
    except ToxiproxyError as exc:
        raise HealError(exc.message, hint="is the stack's Toxiproxy healthy? then run `faultdrill clean` again") from None


def _revert_in_container(container: Container, action: dict[str, Any]) -> Reverted:
    kind, status = action["type"], container.status
    if kind == "container":
        if action.get("action") == "start":
            container.stop(timeout=5)
            return Reverted(True, "container stopped again")
        heal_container(container)
        return Reverted(True, "container restored")
    if kind == "exec" and not action.get("undo"):
        return Reverted(False, "the scenario gives no undo command: nothing to run")
    if status in STOPPED and kind in ("stress", "sql"):
        return Reverted(False, f"its container is {status}: the processes ended with it")
    if status != "running":
        raise HealError(f"cannot undo in {container.name}: the container is {status}",
                        hint="start or unpause it and run `faultdrill clean` again, or remove the stack")
    if kind == "stress":
        kill_pid_file(container, action["pid_file"])
        return Reverted(True, "stress stopped")
    if kind == "sql":
        terminate_sessions(container, action["user"], action["database"], action["application_name"], None)
        return Reverted(True, "lock holder ended")
    if kind == "exec":
        exec_checked(container, action["undo"], wait_s=30.0)
        return Reverted(True, "undo command run")
    raise HealError(f"unknown journal entry type {kind!r}", hint="was the journal written by a newer faultdrill?")
