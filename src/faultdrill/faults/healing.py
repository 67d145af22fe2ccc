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

from typing import Any

from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from docker import DockerClient
from faultdrill.faults.actions import exec_checked, heal_container, kill_pid_file, terminate_sessions
from faultdrill.plugins.api import Healed, HealError, HealTarget
from faultdrill.toxiproxy.client import NotFound as ProxyNotFound
from faultdrill.toxiproxy.client import ToxiproxyClient, ToxiproxyError, ToxiproxyUnreachable

STOPPED = ("exited", "created", "dead")
Reverted = Healed  # the name this module gave it before the plugin API


def entry_name(action: dict[str, Any]) -> str:
    """What a journal entry is, in words a user can find on their stack (its kind says)."""
    from faultdrill.plugins.registry import registry

    try:
        return registry().fault_kind(str(action.get("type"))).describe_record(action)
    except Exception:  # not installed here, or a plugin's describe_record failed: say what the journal says
        return f"{action.get('type')} fault" + (f" {action['fault']!r}" if action.get("fault") else "")


def revert_recorded(action: dict[str, Any], timeout: float = 3.0,
                    docker_client: DockerClient | None = None) -> Healed:
    """Undo one journaled action through its kind. Raises :class:`HealError` when it may still be there
    (a kind that is not installed here included: the package that applied it is named)."""
    from faultdrill.plugins.registry import PluginError, registry

    try:
        kind = registry().fault_kind(str(action.get("type")))
    except PluginError as exc:
        package = action.get("package")
        raise HealError(exc.message, hint=(f"install {package} (it applied this fault) and run `faultdrill clean` "
                                           "again" if package else "install the package that provides it and run "
                                           "`faultdrill clean` again")) from None
    return kind.heal_from_record(action, HealTarget(timeout, docker_client))


def heal_toxiproxy_record(action: dict[str, Any], target: HealTarget) -> Healed:
    """A toxic or proxy change, undone through the Toxiproxy API the journal names."""
    with ToxiproxyClient(action["api"], timeout=target.timeout) as client:
        return _revert_toxiproxy(client, action)


def heal_container_record(action: dict[str, Any], target: HealTarget) -> Healed:
    """A fault inside (or of) a container, undone through the Docker engine."""
    try:
        container = target.docker().containers.get(action["container"])
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
