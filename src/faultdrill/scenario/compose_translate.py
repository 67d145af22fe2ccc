"""A compose file's services, in faultdrill's own stack terms (plain data for the typed model).

Pure: the compose file is already read, interpolated and checked against the schema and the
list of what is unsupported. Paths (build contexts, bind mounts, env files) are made absolute,
so the stack does not depend on where the scenario file lives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from faultdrill.durations import parse_duration
from faultdrill.errors import Problem
from faultdrill.scenario.common import NAME_RE
from faultdrill.scenario.compose_load import ComposeFile
from faultdrill.scenario.yaml_source import Loc

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*$", re.IGNORECASE)
_MEM_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class Translation:
    def __init__(self, compose: ComposeFile) -> None:
        self.compose = compose
        self.problems: list[Problem] = []

    def refuse(self, loc: Loc, message: str, allowed: str | None = None) -> None:
        self.problems.append(self.compose.problem(loc, message, allowed))


def translate(compose: ComposeFile, names: list[str]) -> tuple[dict[str, Any], list[Problem]]:
    """``{"services": ..., "volumes": ...}`` for ``stack:``, and what could not be translated."""
    t = Translation(compose)
    services = compose.data["services"]
    for name in names:
        if not re.match(NAME_RE, name) or name == "toxiproxy":
            t.refuse(("services", name), f"service name {name!r} cannot be used by faultdrill",
                     "lower-case letters, digits, - and _, starting with a letter, at most 40 characters "
                     "('toxiproxy' is reserved); leave the service out with stack.services")
    if t.problems:
        return {}, t.problems
    _one_network(t, names)
    out_services = {name: _service(t, name, services[name]) for name in names}
    for name, svc in out_services.items():
        _literal_dollars(t, ("services", name), svc)
    for name in names:
        for dep, condition in _depends_on(services[name]).items():
            if condition == "service_completed_successfully":
                out_services[dep].setdefault("docker", {})["completes"] = True
            elif condition == "service_healthy" and "health" not in out_services[dep]:
                t.refuse(("services", name, "depends_on", dep), f"waits for {dep!r} to be healthy, "
                         f"but {dep!r} has no healthcheck", f"add a healthcheck to {dep!r}, or use service_started")
    volumes = {}
    for name, spec in (compose.data.get("volumes") or {}).items():
        spec = spec or {}
        external = bool(spec.get("external"))
        volumes[name] = {"external": external, **({"name": spec.get("name") or name} if external else {})}
    return {"services": out_services, "volumes": volumes, "transparent": True, "source": str(compose.path)}, t.problems


def _literal_dollars(t: Translation, here: Loc, svc: dict[str, Any]) -> None:
    """``$${X}`` in compose is a literal ``${X}``, which faultdrill's own ``${...}`` references would read."""
    command = svc.get("command")
    texts: list[tuple[Loc, Any]] = [(("environment", k), v) for k, v in svc.get("env", {}).items()]
    texts += [(("command",), c) for c in ([command] if isinstance(command, str) else command or [])]
    for loc, text in texts:
        if "${" in str(text):
            t.refuse(here + loc, f"{text!r} holds a literal '${{' (from $${{ in compose), which faultdrill cannot "
                     "pass through yet", "write $VAR instead of ${VAR} in a literal, or set it in an env_file")


def _depends_on(svc: dict[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {d: (spec or {}).get("condition", "service_started") for d, spec in deps.items()}


def _networks_of(svc: dict[str, Any]) -> list[str]:
    nets = svc.get("networks")
    if not nets:
        return ["default"]
    return list(nets)


def _one_network(t: Translation, names: list[str]) -> None:
    used: dict[str, str] = {}
    for name in names:
        for net in _networks_of(t.compose.data["services"][name]):
            used.setdefault(net, name)
    if len(used) > 1:
        _first, *others = sorted(used)
        service = used[others[0]]
        t.refuse(("services", service, "networks"),
                 f"the services use {len(used)} networks ({', '.join(sorted(used))}); faultdrill runs a stack on one network",
                 "take the services of one network with stack.services, or put them on one network for the drill "
                 "(stack.override)")


def _service(t: Translation, name: str, svc: dict[str, Any]) -> dict[str, Any]:
    here = ("services", name)
    out: dict[str, Any] = {}
    docker: dict[str, Any] = {}
    _image_or_build(t, here, svc, out, docker)
    for key in ("command",):
        if svc.get(key) is not None:
            out[key] = svc[key]
    if svc.get("entrypoint") is not None:
        docker["entrypoint"] = svc["entrypoint"]
    for key in ("working_dir", "user", "init", "restart"):
        if svc.get(key) is not None:
            docker[key] = svc[key]
    if docker.get("restart") == "on-failure" or str(docker.get("restart", "")).startswith("on-failure:"):
        docker["restart"] = "on-failure"
    out["env"] = _environment(t, here, svc)
    ports = _ports(svc)
    if ports:
        out["ports"] = ports
    health = _health(t, here, svc.get("healthcheck"))
    if health is not None:
        out["health"] = health
    deps = list(_depends_on(svc))
    if deps:
        out["depends_on"] = deps
    aliases = _aliases(svc)
    for alias in aliases:
        if not re.match(NAME_RE, alias):
            t.refuse(here, f"the name {alias!r} (container_name, hostname or a network alias) cannot be used by faultdrill",
                     "lower-case letters, digits, - and _, starting with a letter; change it with stack.override")
    if aliases:
        out["aliases"] = aliases
    _limits(t, here, svc, out)
    volumes = [_mount(t, here + ("volumes", i), v) for i, v in enumerate(svc.get("volumes") or [])]
    if volumes:
        docker["volumes"] = [v for v in volumes if v is not None]
    if docker:
        out["docker"] = docker
    return out


def _image_or_build(t: Translation, here: tuple[Any, ...], svc: dict[str, Any], out: dict[str, Any],
                    docker: dict[str, Any]) -> None:
    """``image:`` as is, or ``build:`` (context, dockerfile, args, target) with its Dockerfile checked."""
    base = t.compose.base_dir
    build = svc.get("build")
    if build is not None:
        spec = {"context": build} if isinstance(build, str) else build
        context = (base / spec.get("context", ".")).resolve()
        out["build"] = str(context)
        options: dict[str, Any] = {}
        if spec.get("dockerfile"):
            options["dockerfile"] = spec["dockerfile"]
        if spec.get("args"):
            raw: Any = spec["args"]
            args: dict[str, Any] = raw
            if isinstance(raw, list):
                args = dict(_key_value(a, t.compose.env) for a in raw)
            options["args"] = {k: _text(v) for k, v in args.items() if v is not None}
        if spec.get("target"):
            options["target"] = spec["target"]
        if options:
            docker["build"] = options
        dockerfile = context / options.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            t.refuse(here + ("build",), f"no Dockerfile at {dockerfile}", "a build context with a Dockerfile")
    elif svc.get("image"):
        out["image"] = svc["image"]
    else:
        t.refuse(here, "a service needs image: or build:")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _key_value(item: str, env: Mapping[str, str]) -> tuple[str, str]:
    """``KEY=value``, or a bare ``KEY`` taken from the compose environment (``.env``)."""
    key, sep, value = item.partition("=")
    return (key, value) if sep else (item, env.get(item, ""))


def _environment(t: Translation, here: Loc, svc: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    files = svc.get("env_file") or []
    for i, item in enumerate([files] if isinstance(files, str) else files):
        spec = {"path": item} if isinstance(item, str) else item
        path = (t.compose.base_dir / spec["path"]).resolve()
        if not path.is_file():
            if spec.get("required", True):
                t.refuse(here + ("env_file",) + ((i,) if not isinstance(files, str) else ()),
                         f"env file {path} not found", "create it, or mark it required: false")
            continue
        env.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    given = svc.get("environment") or {}
    if isinstance(given, list):
        pairs = [(g.split("=", 1)[0], g.split("=", 1)[1] if "=" in g else None) for g in given]
    else:
        pairs = list(given.items())
    for key, value in pairs:
        if value is None:  # KEY alone: the value of the caller's environment, if set
            if key in t.compose.env:
                env[key] = t.compose.env[key]
            continue
        env[key] = _text(value)
    return env


def parse_port(spec: Any) -> tuple[int, int | None]:
    """(container port, host port or None) of a compose ports: entry."""
    if isinstance(spec, dict):
        published = spec.get("published")
        return int(spec["target"]), int(published) if published not in (None, "") else None
    text = str(spec).split("/")[0]
    parts = text.rsplit(":", 2)
    container = int(parts[-1])
    host = parts[-2] if len(parts) >= 2 else ""
    return container, int(host) if host.isdigit() else None


def _ports(svc: dict[str, Any]) -> list[int]:
    out: list[int] = []
    for spec in svc.get("ports") or []:
        port = parse_port(spec)[0]
        if port not in out:
            out.append(port)
    return out


def _health(t: Translation, here: Loc, spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if not spec or spec.get("disable"):
        return None
    test = spec.get("test")
    if test is None:
        t.refuse(here + ("healthcheck",), "a healthcheck without test:", "test: [CMD, ...] or [CMD-SHELL, ...]")
        return None
    if isinstance(test, str):
        cmd = ["/bin/sh", "-c", test]
    elif test and test[0] == "NONE":
        return None
    elif test and test[0] == "CMD":
        cmd = list(test[1:])
    elif test and test[0] == "CMD-SHELL":
        cmd = ["/bin/sh", "-c", " ".join(test[1:])]
    else:
        t.refuse(here + ("healthcheck", "test"), f"healthcheck test {test!r}", "a string, [CMD, ...] or [CMD-SHELL, ...]")
        return None
    interval = _seconds(spec.get("interval"), 30.0)
    timeout = _seconds(spec.get("timeout"), 30.0)
    retries = int(spec.get("retries", 3))
    start = _seconds(spec.get("start_period"), 0.0)
    # faultdrill probes often (at most every second) and gives up after what compose would allow
    budget = max(60.0, start + retries * (interval + timeout))
    return {"cmd": cmd, "interval": min(interval, 1.0), "timeout": min(budget, 600.0)}


def _seconds(value: Any, default: float) -> float:
    return default if value is None else parse_duration(value)


def _aliases(svc: dict[str, Any]) -> list[str]:
    aliases: list[str] = []
    for key in ("container_name", "hostname"):
        if svc.get(key):
            aliases.append(svc[key])
    nets = svc.get("networks")
    if isinstance(nets, dict):
        for spec in nets.values():
            aliases.extend((spec or {}).get("aliases") or [])
    return list(dict.fromkeys(aliases))


def _limits(t: Translation, here: Loc, svc: dict[str, Any], out: dict[str, Any]) -> None:
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    cpus = limits.get("cpus", svc.get("cpus"))
    memory = limits.get("memory", svc.get("mem_limit"))
    pids = limits.get("pids", svc.get("pids_limit"))
    if cpus not in (None, "", 0, "0"):
        out["cpus"] = float(cpus)
    if memory not in (None, ""):
        size = memory_bytes(memory)
        if size is None:
            t.refuse(here + ("deploy",), f"memory limit {memory!r} is not a size", "e.g. 256m, 1g, 1.5g")
        else:
            out["mem_limit"] = str(size)
    if pids not in (None, 0, -1):
        out["pids_limit"] = int(pids)


def memory_bytes(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    match = _MEMORY.match(str(value))
    if not match:
        return None
    return int(float(match.group(1)) * _MEM_UNITS[match.group(2).lower()])


def _mount(t: Translation, loc: Loc, spec: Any) -> dict[str, Any] | None:
    volumes = t.compose.data.get("volumes") or {}
    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) == 1:
            return {"type": "volume", "target": parts[0]}
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        read_only = "ro" in mode.split(",")
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    else:
        kind = spec.get("type", "volume")
        source, target = spec.get("source"), spec["target"]
        read_only = bool(spec.get("read_only"))
        if kind not in ("bind", "volume", "tmpfs"):
            t.refuse(loc, f"mount type {kind!r} is not supported by faultdrill", "bind, volume or tmpfs")
            return None
    if kind == "bind":
        source = str((t.compose.base_dir / Path(source).expanduser()).resolve())
    elif kind == "volume" and source and source not in volumes:
        t.refuse(loc, f"volume {source!r} is not declared under the top-level volumes:", ", ".join(volumes) or "none")
        return None
    return {"type": kind, "source": source, "target": target, "read_only": read_only}
