"""What a compose file may say that faultdrill does not honour: each named, never ignored.

Every key here either changes how the stack behaves in a way a drill cannot reproduce
(secrets, configs, extends, other network modes, several networks) or is not built yet.
Each is refused with its file, line and key and what to do instead (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faultdrill.errors import Problem
from faultdrill.scenario.compose_load import ComposeFile
from faultdrill.scenario.yaml_source import Loc

TOP_SUPPORTED = {"version", "name", "services", "volumes", "networks"}
SERVICE_SUPPORTED = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "depends_on",
    "healthcheck", "volumes", "networks", "deploy", "restart", "profiles", "working_dir", "user", "init",
    "container_name", "hostname", "mem_limit", "cpus", "pids_limit", "pull_policy", "labels", "stop_grace_period",
}
BUILD_SUPPORTED = {"context", "dockerfile", "args", "target"}
HEALTH_SUPPORTED = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
DEPLOY_SUPPORTED = {"resources"}
LIMITS_SUPPORTED = {"cpus", "memory", "pids"}
VOLUME_SUPPORTED = {"external", "name"}
NETWORK_SUPPORTED = {"driver", "name"}

ADVICE = {
    "include": "merge the included file into this one, or point stack.compose at the file that holds the services",
    "secrets": "pass the value as an environment variable for the drill (stack.override)",
    "configs": "bind-mount the file instead (volumes:)",
    "extends": "write the extended service's keys out in this service",
    "network_mode": "drop it for the drill: faultdrill runs every service on one network of its own",
    "links": "drop it: every service reaches every other by name on the run network",
}
DEFAULT_ADVICE = ("remove it for the drill with stack.override (KEY: null), or leave the service out "
                  "with stack.services")


def unsupported(compose: ComposeFile, services: Iterable[str]) -> list[Problem]:
    data = compose.data
    problems: list[Problem] = []

    def refuse(loc: Loc, what: str, advice: str | None = None) -> None:
        key = str(loc[-1])
        problems.append(compose.problem(loc, f"{what} is not supported by faultdrill",
                                        advice or ADVICE.get(key, DEFAULT_ADVICE)))

    for key in data:
        if key not in TOP_SUPPORTED and not str(key).startswith("x-"):
            refuse((key,), f"top-level {key!r}")
    for name in services:
        svc = data["services"][name]
        here = ("services", name)
        for key in svc:
            if str(key).startswith("x-"):
                continue
            if key not in SERVICE_SUPPORTED:
                refuse(here + (key,), f"{key!r}")
        _build(svc, here, refuse)
        _healthcheck(svc, here, refuse)
        _deploy(svc, here, refuse)
        _depends_on(svc, here, refuse)
        _networks(svc, here, refuse)
        _ports(svc, here, refuse)
        if svc.get("pull_policy") not in (None, "missing", "never", "if_not_present"):
            refuse(here + ("pull_policy",), f"pull_policy {svc['pull_policy']!r}",
                   "missing or never: images are used as they are (pulled only when absent)")
    for name, vol in (data.get("volumes") or {}).items():
        for key in (vol or {}):
            if key == "driver" and vol[key] == "local":
                continue
            if key not in VOLUME_SUPPORTED:
                refuse(("volumes", name, key), f"volume option {key!r}")
    for name, net in (data.get("networks") or {}).items():
        for key in (net or {}):
            if key == "driver" and net[key] == "bridge":
                continue
            if key == "external" and net[key]:
                refuse(("networks", name, key), "an external network",
                       "drill a running stack on its own network with stack: {attach: {network: NAME}}")
            elif key not in NETWORK_SUPPORTED - {"driver"} and key != "external":
                refuse(("networks", name, key), f"network option {key!r}")
    return problems


def _build(svc: dict[str, Any], here: Loc, refuse: Any) -> None:
    if isinstance(svc.get("build"), dict):
        for key in svc["build"]:
            if key not in BUILD_SUPPORTED:
                refuse(here + ("build", key), f"build option {key!r}", "context, dockerfile, args and target are")


def _healthcheck(svc: dict[str, Any], here: Loc, refuse: Any) -> None:
    for key in svc.get("healthcheck") or {}:
        if key not in HEALTH_SUPPORTED:
            refuse(here + ("healthcheck", key), f"healthcheck option {key!r}")


def _deploy(svc: dict[str, Any], here: Loc, refuse: Any) -> None:
    deploy = svc.get("deploy") or {}
    for key in deploy:
        if key == "replicas" and deploy[key] == 1:
            continue
        if key not in DEPLOY_SUPPORTED:
            refuse(here + ("deploy", key), f"deploy.{key}",
                   "faultdrill runs one container per service; deploy.resources.limits (cpus, memory, pids) is honoured")
    resources = deploy.get("resources") or {}
    for key in resources:
        if key == "reservations":
            continue  # a scheduling hint for swarm; a single engine does not reserve
        if key != "limits":
            refuse(here + ("deploy", "resources", key), f"deploy.resources.{key}")
    for key in resources.get("limits") or {}:
        if key not in LIMITS_SUPPORTED:
            refuse(here + ("deploy", "resources", "limits", key), f"deploy.resources.limits.{key}",
                   "cpus, memory and pids are honoured")


def _depends_on(svc: dict[str, Any], here: Loc, refuse: Any) -> None:
    deps = svc.get("depends_on")
    if not isinstance(deps, dict):
        return
    for dep, spec in deps.items():
        if isinstance(spec, dict) and spec.get("required") is False:
            refuse(here + ("depends_on", dep, "required"), "depends_on.required: false",
                   f"take {dep!r} into the drill (stack.services) or drop the dependency with stack.override")


def _networks(svc: dict[str, Any], here: Loc, refuse: Any) -> None:
    nets = svc.get("networks")
    if not isinstance(nets, dict):
        return
    for net, spec in nets.items():
        for key in spec or {}:
            if key != "aliases":
                refuse(here + ("networks", net, key), f"network option {key!r}", "aliases are honoured")


def _ports(svc: dict[str, Any], here: Loc, refuse: Any) -> None:
    for i, port in enumerate(svc.get("ports") or []):
        text = str(port.get("protocol", "tcp")) if isinstance(port, dict) else str(port)
        if isinstance(port, dict):
            if text != "tcp":
                refuse(here + ("ports", i), f"a {text} port", "TCP ports only")
            continue
        if "/" in text and not text.endswith("/tcp"):
            refuse(here + ("ports", i), f"port {text!r}", "TCP ports only")
        elif "-" in text.split(":")[-1]:
            refuse(here + ("ports", i), f"port range {text!r}", "list the ports one by one")
