"""Undoing what the journal says is active, then removing everything labelled with the run id.

Each fault is undone on its own and one that cannot be is recorded, never stops the others, nor the
removal. Backends are passed in (the Docker engine, an HTTP function for Toxiproxy), so unit tests
drive this with fakes.
"""

from __future__ import annotations

import json
import shlex
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from faultdrill.reaper.plan import Outcome, Session
from faultdrill.reaper.protocol import RUN_LABEL

STOPPED = ("exited", "created", "dead")
Http = Callable[[str, str, Any], int]  # (method, url, json body) -> status; raises OSError when unreachable


class Engine(Protocol):
    def labelled(self, kind: str, label: str) -> list[dict[str, Any]]: ...
    def inspect(self, container: str) -> dict[str, Any]: ...
    def post(self, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any: ...
    def delete(self, path: str, query: dict[str, Any] | None = None) -> Any: ...
    def exec(self, container: str, cmd: list[str], env: dict[str, str] | None = None,
             wait_s: float = 30.0) -> int | None: ...


def http(method: str, url: str, body: Any, timeout: float = 15.0) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError as exc:
        raise OSError(str(exc.reason)) from None


def _status(error: Exception) -> int | None:
    return getattr(error, "status", None)


class Reaper:
    def __init__(self, engine: Engine, session: Session, self_name: str, http_call: Http = http,
                 log: Callable[[str], None] = lambda _m: None) -> None:
        self.engine = engine
        self.session = session
        self.self_name = self_name
        self.http = http_call
        self.log = log

    # ------------------------------------------------------------------ healing
    def heal_all(self) -> list[Outcome]:
        actions = self.session.pending()
        if any(a.get("type") in ("toxic", "proxy") for a in actions) and self.session.network:
            self._join_network()
        outcomes = []
        for action in reversed(actions):  # newest first, as the harness heals
            try:
                state, detail = self.heal(action)
            except Exception as exc:
                state, detail = "failed", f"{type(exc).__name__}: {exc}"
            self.log(f"{state}: {action.get('type')} {action.get('name') or action.get('proxy') or ''}: {detail}")
            outcomes.append(Outcome(action, state, detail))
        return outcomes

    def _join_network(self) -> None:
        try:
            self.engine.post(f"/networks/{self.session.network}/connect", {"Container": self.self_name})
        except Exception as exc:
            self.log(f"could not join {self.session.network}: {exc}")

    def heal(self, action: dict[str, Any]) -> tuple[str, str]:
        kind = action.get("type")
        if kind in ("toxic", "proxy"):
            return self._heal_toxiproxy(action)
        container = str(action.get("container"))
        try:
            info = self.engine.inspect(container)
        except Exception as exc:
            if _status(exc) == 404:
                return "nothing left", "its container is gone (the fault went with it)"
            raise
        state = info.get("State") or {}
        status = "paused" if state.get("Paused") else state.get("Status", "")
        if kind == "container":
            return self._heal_container(container, action, status)
        if kind == "exec" and not action.get("undo"):
            return "nothing left", "the scenario gives no undo command: nothing to run"
        if status in STOPPED:
            return "nothing left", f"its container is {status}: the processes ended with it"
        if status == "paused":
            self.engine.post(f"/containers/{container}/unpause")
        if kind == "sql":
            sql = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   f"WHERE application_name = '{action['application_name']}'")
            self._exec_ok(container, ["psql", "-U", action["user"], "-d", action["database"], "-Atc", sql])
            return "healed", "lock holder ended"
        if kind == "stress":
            quoted = shlex.quote(action["pid_file"])
            self._exec_ok(container, ["sh", "-c", f"[ -f {quoted} ] && kill $(cat {quoted}) 2>/dev/null; "
                                                  f"rm -f {quoted}; true"])
            return "healed", "stress stopped"
        if kind == "exec":
            self._exec_ok(container, list(action["undo"]))
            return "healed", "undo command run"
        return "failed", f"unknown journal entry type {kind!r}"

    def _exec_ok(self, container: str, cmd: list[str]) -> None:
        code = self.engine.exec(container, cmd, wait_s=30.0)
        if code != 0:
            raise RuntimeError(f"`{shlex.join(cmd)}` exited {code if code is not None else '(still running after 30 s)'}")

    def _heal_container(self, container: str, action: dict[str, Any], status: str) -> tuple[str, str]:
        if action.get("action") == "start":
            if status in STOPPED:
                return "nothing left", "the container is stopped already"
            self.engine.post(f"/containers/{container}/stop", query={"t": 5})
            return "healed", "container stopped again"
        if status == "paused":
            self.engine.post(f"/containers/{container}/unpause")
            return "healed", "container unpaused"
        if status in STOPPED:
            self.engine.post(f"/containers/{container}/start")
            return "healed", "container started again"
        return "nothing left", f"the container is {status or 'running'} already"

    def _heal_toxiproxy(self, action: dict[str, Any]) -> tuple[str, str]:
        api = self.session.api_for(action).rstrip("/")
        proxy = urllib.parse.quote(str(action.get("proxy")))
        try:
            if action["type"] == "toxic":
                code = self.http("DELETE", f"{api}/proxies/{proxy}/toxics/{urllib.parse.quote(action['toxic'])}", None)
                done = "toxic removed"
            elif action.get("action") == "down":
                code = self.http("POST", f"{api}/proxies/{proxy}", {"enabled": True})
                done = "proxy enabled again"
            elif action.get("previous_upstream"):
                code = self.http("POST", f"{api}/proxies/{proxy}", {"upstream": action["previous_upstream"]})
                done = f"upstream restored to {action['previous_upstream']}"
            else:
                return "failed", "the journal does not say what the proxy pointed at before the fault"
        except OSError as exc:
            return "nothing left", f"Toxiproxy is unreachable ({exc}): the fault went with it"
        if code == 404:
            return "nothing left", f"proxy {action.get('proxy')!r} or its toxic is gone (the fault went with it)"
        if code >= 300:
            return "failed", f"Toxiproxy answered {code}"
        return "healed", done

    # ------------------------------------------------------------------ removing
    def remove_all(self, run_id: str) -> tuple[dict[str, list[str]], list[str]]:
        """Remove every container (but this one), network and volume labelled with ``run_id``."""
        label = f"{RUN_LABEL}={run_id}"
        removed: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
        failed: list[str] = []
        for container in self.engine.labelled("containers", label):
            name = (container.get("Names") or ["/" + container["Id"][:12]])[0].lstrip("/")
            if name == self.self_name:
                continue
            self._remove(f"container {name}", partial(
                self.engine.delete, f"/containers/{container['Id']}", {"force": 1, "v": 1}), removed["containers"], name, failed)
        for network in self.engine.labelled("networks", label):
            name = network.get("Name", network["Id"][:12])
            try:
                self.engine.post(f"/networks/{network['Id']}/disconnect", {"Container": self.self_name, "Force": True})
            except Exception:
                pass
            self._remove(f"network {name}", partial(self.engine.delete, f"/networks/{network['Id']}"),
                         removed["networks"], name, failed)
        for volume in self.engine.labelled("volumes", label):
            name = volume["Name"]
            self._remove(f"volume {name}", partial(self.engine.delete, f"/volumes/{name}", {"force": 1}),
                         removed["volumes"], name, failed)
        return removed, failed

    @staticmethod
    def _remove(what: str, remove: Callable[[], Any], removed: list[str], name: str, failed: list[str]) -> None:
        try:
            remove()
            removed.append(name)
        except Exception as exc:
            if _status(exc) == 404:
                return
            failed.append(f"{what}: {exc}")
