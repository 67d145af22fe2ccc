"""A scenario's target stack, proxies and load workers as Kubernetes manifests (docs/scale.md).

Pure: the scenario and an ``image_of`` function in, manifests (plain dicts) out; ``write`` puts them
in files. What maps where:

* each service → a Deployment (``app.kubernetes.io/name: SERVICE``) and a Service of its ports;
* each proxy → Toxiproxy takes over the dependency's Service name, as with compose: the Service
  ``DEP`` selects the Toxiproxy pod, which forwards to ``DEP-direct`` (the dependency's own pods);
  the proxies are in a ConfigMap Toxiproxy reads at start (``-config``);
* the load → a Deployment of ``faultdrill worker`` pods joining the drill's master (``--master``)
  with the run's token from a Secret.

The drill itself (master, fault timeline, recorder) still runs outside the cluster: there is no
Kubernetes stack engine yet — docs/scale.md says what it would take.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from faultdrill.scenario.model import REF_RE, Scenario, Service
from faultdrill.stack.plan import proxy_listen_ports

Manifest = dict[str, Any]
ImageOf = Callable[[str, Service], str]
TOXIPROXY_API_PORT = 8474
WORKER_IMAGE = "faultdrill/load-worker:latest"  # an image with faultdrill installed (docs/scale.md)


def dns_name(text: str) -> str:
    """A DNS-1123 label: lower case, digits and '-'."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "x"


def _meta(name: str, namespace: str, app: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "faultdrill"}}


class Exporter:
    def __init__(self, scenario: Scenario, image_of: ImageOf, *, master: str, workers: int) -> None:
        self.scenario = scenario
        self.image_of = image_of
        self.master = master
        self.workers = workers
        self.ns = dns_name(f"faultdrill-{scenario.name}")
        self.proxied = {p.upstream.rsplit(":", 1)[0]: name for name, p in scenario.proxies.items()}

    # -- names -----------------------------------------------------------------------------
    def service_name(self, service: str) -> str:
        """The Service that reaches a service's own pods (``-direct`` when Toxiproxy took its name)."""
        return dns_name(f"{service}-direct" if service in self.proxied else service)

    def resolve(self, value: str) -> str:
        """``${...}`` references, as addresses inside the cluster."""
        def one(match: re.Match[str]) -> str:
            parts = match.group(1).split(".")
            if parts[0] == "run":
                return self.ns
            if parts[0] == "proxy":
                dep, dep_port = self.scenario.proxies[parts[1]].upstream.rsplit(":", 1)
                return f"{dns_name(dep)}:{dep_port}"  # the dependency's own name: Toxiproxy answers on it
            service = self.scenario.stack.services[parts[1]]
            attr = parts[2] if len(parts) > 2 else ""
            port = int(parts[3]) if len(parts) > 3 else (service.ports[0] if service.ports else 80)
            if attr in ("addr", ""):
                return f"{self.service_name(parts[1])}:{port}"
            if attr == "url":
                return f"http://{self.service_name(parts[1])}:{port}"
            return str(port)

        return REF_RE.sub(one, value)

    # -- manifests -------------------------------------------------------------------------
    def manifests(self) -> list[Manifest]:
        out: list[Manifest] = [{"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": self.ns, "labels": {"app.kubernetes.io/part-of": "faultdrill"}}}]
        for name, service in self.scenario.stack.services.items():
            out += self.service(name, service)
        if self.scenario.proxies:
            out += self.toxiproxy()
        out += self.load_workers()
        return out

    def _ports(self, name: str, service: Service) -> list[int]:
        ports = list(service.ports)
        for proxy in self.scenario.proxies.values():
            host, port = proxy.upstream.rsplit(":", 1)
            if host == name and int(port) not in ports:
                ports.append(int(port))
        if service.health is not None and service.health.tcp is not None and service.health.tcp not in ports:
            ports.append(service.health.tcp)
        return ports

    def service(self, name: str, service: Service) -> list[Manifest]:
        app = dns_name(name)
        ports = self._ports(name, service)
        container: dict[str, Any] = {"name": app, "image": self.image_of(name, service)}
        if service.command is not None:
            container["args"] = service.command if isinstance(service.command, list) else ["sh", "-c", service.command]
        if service.env:
            container["env"] = [{"name": k, "value": self.resolve(v)} for k, v in sorted(service.env.items())]
        if ports:
            container["ports"] = [{"containerPort": p, "name": f"p{p}"} for p in ports]
        probe = self._probe(service)
        if probe is not None:
            container["readinessProbe"] = probe
        resources: dict[str, Any] = {}
        if service.mem_limit:
            resources["memory"] = service.mem_limit.upper().replace("K", "Ki").replace("M", "Mi").replace("G", "Gi")
        if service.cpus:
            resources["cpu"] = str(service.cpus)
        if resources:
            container["resources"] = {"limits": resources}
        labels = {"app.kubernetes.io/name": app}
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(app, self.ns, app),
                      "spec": {"replicas": 1 if service.autostart else 0, "selector": {"matchLabels": labels},
                               "template": {"metadata": {"labels": {**labels, "app.kubernetes.io/part-of": "faultdrill"}},
                                            "spec": {"containers": [container]}}}}
        out: list[Manifest] = [deployment]
        if ports:
            svc_name = self.service_name(name)
            out.append({"apiVersion": "v1", "kind": "Service", "metadata": _meta(svc_name, self.ns, app),
                        "spec": {"selector": labels, "ports": [{"name": f"p{p}", "port": p, "targetPort": p}
                                                               for p in ports]}})
        return out

    @staticmethod
    def _probe(service: Service) -> dict[str, Any] | None:
        health = service.health
        if health is None:
            return None
        period = {"periodSeconds": max(1, round(health.interval)),
                  "failureThreshold": max(1, round(health.timeout / max(health.interval, 1.0)))}
        if health.http is not None:
            return {"httpGet": {"path": health.http, "port": service.ports[0]}, **period}
        if health.tcp is not None:
            return {"tcpSocket": {"port": health.tcp}, **period}
        assert health.cmd is not None
        return {"exec": {"command": list(health.cmd)}, **period}

    def toxiproxy(self) -> list[Manifest]:
        import json

        app = "toxiproxy"
        labels = {"app.kubernetes.io/name": app}
        config = []
        listen = proxy_listen_ports(self.scenario)  # each proxy its own port, as in the local stack
        by_dependency: dict[str, list[tuple[int, int]]] = {}  # Service name -> (port dialled, proxy's port)
        for name, proxy in sorted(self.scenario.proxies.items()):
            host, port = proxy.upstream.rsplit(":", 1)
            config.append({"name": name, "listen": f"0.0.0.0:{listen[name]}",
                           "upstream": f"{self.service_name(host)}:{port}", "enabled": True})
            by_dependency.setdefault(dns_name(host), []).append((int(port), listen[name]))
        out: list[Manifest] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("toxiproxy-config", self.ns, app),
             "data": {"toxiproxy.json": json.dumps(config, indent=2)}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(app, self.ns, app),
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": {**labels, "app.kubernetes.io/part-of": "faultdrill"}},
                                   "spec": {"containers": [{
                                       "name": app, "image": self.scenario.toxiproxy.official_image,
                                       "args": ["-host=0.0.0.0", "-config=/config/toxiproxy.json"],
                                       "ports": [{"containerPort": TOXIPROXY_API_PORT, "name": "api"},
                                                 *({"containerPort": p, "name": f"p{p}"}
                                                   for p in sorted(listen.values()))],
                                       "readinessProbe": {"httpGet": {"path": "/version",
                                                                      "port": TOXIPROXY_API_PORT}},
                                       "volumeMounts": [{"name": "config", "mountPath": "/config"}]}],
                                            "volumes": [{"name": "config",
                                                         "configMap": {"name": "toxiproxy-config"}}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": _meta(app, self.ns, app),
             "spec": {"selector": labels, "ports": [{"name": "api", "port": TOXIPROXY_API_PORT,
                                                     "targetPort": TOXIPROXY_API_PORT}]}},
        ]
        for dep, dep_ports in sorted(by_dependency.items()):  # the transparent trick: the dependency's own
            # name now reaches Toxiproxy, each port it is dialled on to that proxy's own listener
            out.append({"apiVersion": "v1", "kind": "Service", "metadata": _meta(dep, self.ns, app),
                        "spec": {"selector": labels, "ports": [{"name": f"p{port}", "port": port, "targetPort": own}
                                                               for port, own in sorted(dep_ports)]}})
        return out

    def load_workers(self) -> list[Manifest]:
        app = "faultdrill-load-worker"
        labels = {"app.kubernetes.io/name": app}
        return [
            {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("faultdrill-worker-token", self.ns, app),
             "type": "Opaque", "stringData": {"token": "REPLACE-with-the-token-the-drill-prints"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(app, self.ns, app),
             "spec": {"replicas": self.workers, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": {**labels, "app.kubernetes.io/part-of": "faultdrill"}},
                                   "spec": {"restartPolicy": "Always", "containers": [{
                                       "name": "worker", "image": WORKER_IMAGE,
                                       "command": ["faultdrill", "worker", "--master", self.master, "--wait", "600"],
                                       "env": [{"name": "FAULTDRILL_WORKER_TOKEN", "valueFrom": {"secretKeyRef": {
                                           "name": "faultdrill-worker-token", "key": "token"}}}],
                                       "resources": {"requests": {"cpu": "1"}}}]}}}},
        ]


NOT_MAPPED = {  # service fields the manifests do not carry, and what to do instead
    "pids_limit": "a pod pids limit is the kubelet's podPidsLimit (node-wide), not a pod field",
    "docker": "entrypoint, volumes, restart and other Docker options: add them to the Deployment by hand",
    "aliases": "more names: add Services selecting the same pods",
    "metrics": "the recorder scrapes 127.0.0.1 ports: on a cluster use a ServiceMonitor or port-forward",
    "postgres": "the DB probe connects from the drill's host: port-forward the database Service",
    "stub_status": "the ingress counters are scraped from the drill's host: port-forward them",
}


def not_mapped(scenario: Scenario) -> list[str]:
    """One line per service field the export leaves out (never silently)."""
    out = []
    for name, service in scenario.stack.services.items():
        for field_name, why in NOT_MAPPED.items():
            value = getattr(service, field_name)
            if value not in (None, [], {}):
                out.append(f"{name}.{field_name}: not exported — {why}")
    if scenario.stack.attach is not None:
        out.append("stack.attach: an already-running stack is not exported — only the proxies and workers are")
    return out


def export(scenario: Scenario, image_of: ImageOf, *, master: str | None = None, workers: int | None = None
           ) -> list[Manifest]:
    pool = scenario.load.pool
    return Exporter(scenario, image_of, master=master_address(scenario, master),
                    workers=workers or max(pool.remote, 1)).manifests()


PLACEHOLDER_MASTER = "faultdrill-master"


def master_address(scenario: Scenario, master: str | None) -> str:
    """What worker pods dial: ``--master``, else the scenario's listen address — unless that is a wildcard or
    loopback (a pod would dial itself), then a placeholder name the user must make resolve (said by the CLI)."""
    if master:
        return master
    pool = scenario.load.pool
    if pool.listen_host in ("0.0.0.0", "*", "::", "127.0.0.1", "localhost", "::1"):
        return f"{PLACEHOLDER_MASTER}:{pool.listen_port}"
    return pool.listen


def write(manifests: list[Manifest], out: Path) -> list[Path]:
    """One file per kind of thing, in apply order (``kubectl apply -f DIR``)."""
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Manifest]] = {}
    for m in manifests:
        app = m["metadata"].get("labels", {}).get("app.kubernetes.io/name", "namespace")
        group = "00-namespace" if m["kind"] == "Namespace" else (
            "20-toxiproxy" if app == "toxiproxy" else "30-load-workers" if app == "faultdrill-load-worker"
            else f"10-{app}")
        groups.setdefault(group, []).append(m)
    written = []
    for group, docs in sorted(groups.items()):
        path = out / f"{group}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written
