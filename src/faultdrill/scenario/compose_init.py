"""``faultdrill init --compose FILE``: a starting scenario inferred from a compose file (pure).

What is inferred: the services (all of the file's default ones), a transparent proxy for every
service another depends on whose port is known (its ports/expose, its Dockerfile's EXPOSE, or the
usual port of a well-known image), the load on the first published HTTP port of a service nobody
depends on, one latency fault per proxy, and baseline / fault / recovery checks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faultdrill.scenario.compose_load import ComposeFile
from faultdrill.scenario.compose_translate import parse_port

WELL_KNOWN_PORTS = {
    "postgres": 5432, "postgis": 5432, "mysql": 3306, "mariadb": 3306, "redis": 6379, "valkey": 6379,
    "memcached": 11211, "mongo": 27017, "rabbitmq": 5672, "kafka": 9092, "elasticsearch": 9200,
    "opensearch": 9200, "nats": 4222, "mailhog": 1025, "mailpit": 1025, "minio": 9000, "zookeeper": 2181,
}
NOT_HTTP = {5432, 3306, 6379, 11211, 27017, 5672, 9092, 4222, 1025, 25, 587, 2181, 6380}
_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)", re.IGNORECASE | re.MULTILINE)

BASELINE_S, FAULT_S, GAP_S, RECOVERY_S = 10, 10, 5, 10
LATENCY = "200ms"


@dataclass
class InitPlan:
    name: str
    scenario: dict[str, Any]
    locustfile: str
    inferred: list[str] = field(default_factory=list)
    look_at: list[str] = field(default_factory=list)


def service_port(compose: ComposeFile, name: str) -> tuple[int | None, str]:
    """The port other services reach ``name`` on, and how it was found."""
    svc = compose.data["services"][name]
    for spec in svc.get("ports") or []:
        return parse_port(spec)[0], "its ports:"
    for spec in svc.get("expose") or []:
        return int(str(spec).split("/")[0].split("-")[0]), "its expose:"
    build = svc.get("build")
    if build is not None:
        spec = {"context": build} if isinstance(build, str) else build
        dockerfile = compose.base_dir / spec.get("context", ".") / spec.get("dockerfile", "Dockerfile")
        if dockerfile.is_file():
            match = _EXPOSE.search(dockerfile.read_text(encoding="utf-8", errors="replace"))
            if match:
                return int(match.group(1)), "its Dockerfile's EXPOSE"
    image = str(svc.get("image") or "").rsplit("/", 1)[-1].split(":")[0]
    for known, port in WELL_KNOWN_PORTS.items():
        if image.startswith(known) or name.startswith(known):
            return port, f"the usual port of {known}"
    return None, ""


def _depends(svc: dict[str, Any]) -> list[str]:
    return list(svc.get("depends_on") or [])


def plan_init(compose: ComposeFile, names: list[str], scenario_path: Path) -> InitPlan:
    services = compose.data["services"]
    stem = re.sub(r"[^a-z0-9_.-]+", "-", (compose.data.get("name") or compose.base_dir.name).lower()).strip("-.") or "stack"
    name = f"{stem}-drill"[:64]
    plan = InitPlan(name, {}, "")
    depended = {d for n in names for d in _depends(services[n]) if d in names}
    proxies: dict[str, dict[str, str]] = {}
    for dep in sorted(depended, key=names.index):
        port, how = service_port(compose, dep)
        clients = [n for n in names if dep in _depends(services[n])]
        if port is None:
            plan.look_at.append(f"{dep}: no port known (no ports/expose, no EXPOSE), so no proxy in front of it; "
                                f"add proxies: {{{dep}: {{upstream: \"{dep}:PORT\"}}}} by hand")
            continue
        proxies[dep] = {"upstream": f"{dep}:{port}"}
        plan.inferred.append(f"proxy {dep}: {', '.join(clients)} → {dep}:{port} (port from {how}); "
                             f"Toxiproxy takes the name {dep!r}, their config is unchanged")
    entry = _entry(compose, names, depended)
    if entry is None:
        plan.look_at.append("no service publishes an HTTP port: load.host points at nothing; publish one (ports:) "
                            "and set load.host to ${service.NAME.url}")
        host = "http://127.0.0.1:8080"
        path = "/"
    else:
        svc_name, port = entry
        host = f"${{service.{svc_name}.url.{port}}}"
        path = "/"
        plan.inferred.append(f"load: {svc_name}'s published port {port}, GET {path} (in the locustfile)")
        plan.look_at.append(f"the locustfile only GETs {path}: replace it with your real journeys "
                            "(requests that reach the dependencies)")
    faults = []
    at = BASELINE_S
    for dep in proxies:
        faults.append({"name": f"slow {dep}", "at": f"{at}s", "for": f"{FAULT_S}s",
                       "toxic": {"proxy": dep, "type": "latency", "latency": LATENCY}})
        at += FAULT_S + GAP_S
    duration = (at - GAP_S + RECOVERY_S) if faults else BASELINE_S + RECOVERY_S
    checks: list[dict[str, Any]] = [
        {"name": "fast at baseline", "metric": "p95_ms", "window": "baseline" if faults else "run", "max": 500},
    ]
    if faults:
        checks += [{"name": "few errors while a dependency is slow", "metric": "error_rate", "window": "fault", "max": 0.05},
                   {"name": "no errors after the faults", "metric": "error_rate", "window": "recovery", "max": 0.01},
                   {"name": "fast again after the faults", "metric": "p95_ms", "window": "recovery", "max": 500}]
        plan.look_at.append(f"one {LATENCY} latency fault per proxy, {FAULT_S}s each: set them to the outages you "
                            "fear (type: timeout, proxy: {action: down}, container faults)")
    plan.look_at.append("the checks' bounds (p95 500 ms, error rates) are a start: set them to your SLOs")
    rel = os.path.relpath(compose.path, scenario_path.parent.resolve())
    locust_name = f"{scenario_path.stem}-locustfile.py"
    plan.scenario = {
        "name": name,
        "description": f"Generated by faultdrill init from {compose.path.name}: one latency fault per dependency.",
        "stack": {"compose": rel},
        **({"proxies": proxies} if proxies else {}),
        "load": {"journeys": locust_name, "host": host,
                 "shape": [{"until": f"{duration}s", "users": 5, "spawn_rate": 5}]},
        **({"faults": faults} if faults else {}),
        "checks": checks,
    }
    plan.locustfile = LOCUSTFILE.format(path=path)
    return plan


def _entry(compose: ComposeFile, names: list[str], depended: set[str]) -> tuple[str, int] | None:
    candidates = [n for n in names if n not in depended] + [n for n in names if n in depended]
    for name in candidates:
        for spec in compose.data["services"][name].get("ports") or []:
            port = parse_port(spec)[0]
            if port not in NOT_HTTP:
                return name, port
    return None


def render(plan: InitPlan) -> str:
    header = ("# Written by `faultdrill init` — a starting point: look at the load (the locustfile), the faults\n"
              "# and the checks' bounds. Run it with `faultdrill run THIS_FILE`.\n")
    return header + yaml.safe_dump(plan.scenario, sort_keys=False, width=110)


LOCUSTFILE = '''"""Journeys for the generated drill: replace them with what your users do."""

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser


class Visitor(FastHttpUser):
    wait_time = between(0.2, 0.5)

    @task
    def page(self) -> None:
        self.client.get("{path}", name="GET {path}")
'''
