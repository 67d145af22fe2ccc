"""`faultdrill export kubernetes`: every bundled drill's manifests, validated offline against the
Kubernetes API schemas that kubernetes-validate bundles (strict: an unknown field is an error), and
the transparent proxy wiring checked by name. No cluster is involved (docs/scale.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from faultdrill.cli import main

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
K8S_VERSION = "1.30.0"


def exported(scenario: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    assert main(["export", "kubernetes", str(scenario), "--out", str(out), *extra]) == 0
    return [doc for path in sorted(out.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_drill_exports_manifests_the_api_schemas_accept(scenario: Path, tmp_path: Path,
                                                             example_extension: None) -> None:
    docs = exported(scenario, tmp_path)
    assert docs[0]["kind"] == "Namespace"
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any schema error
    assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "Secret"}


def test_a_wrong_field_is_caught_by_the_validation() -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_toxiproxy_takes_over_the_dependencys_service_name(tmp_path: Path) -> None:
    docs = exported(REPO / "scenarios" / "ticketing-mail-outage.yaml", tmp_path, "--master", "10.0.0.5:5557",
                    "--workers", "3")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    # "db" now reaches Toxiproxy; the database's own pods are behind "db-direct", Toxiproxy's upstream
    assert services["db"]["spec"]["selector"] == {"app.kubernetes.io/name": "toxiproxy"}
    assert services["db-direct"]["spec"]["selector"] == {"app.kubernetes.io/name": "db"}
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "toxiproxy-config")
    assert '"upstream": "db-direct:5432"' in config["data"]["toxiproxy.json"]
    env = {e["name"]: e["value"] for e in deployments["app"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATABASE_URL"].startswith("postgresql://app@db:5432/")  # ${proxy.db}: unchanged app config
    workers = deployments["faultdrill-load-worker"]["spec"]
    assert workers["replicas"] == 3
    assert workers["template"]["spec"]["containers"][0]["command"][:4] == ["faultdrill", "worker", "--master",
                                                                         "10.0.0.5:5557"]


def test_what_is_not_exported_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported(REPO / "scenarios" / "ticketing-mail-outage.yaml", tmp_path)
    said = capsys.readouterr().out
    assert "app.pids_limit: not exported" in said and "podPidsLimit" in said
    assert "ingress.stub_status: not exported" in said


def test_proxies_on_one_port_get_their_own_listeners_and_one_service_carries_every_port(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "two-dbs.yaml"
    scenario.write_text("""\
name: two-dbs
stack:
  services:
    db1: {image: "postgres:16"}
    db2: {image: "postgres:16"}
    cache: {image: "redis:7"}
    app:
      image: "app:1"
      env: {A: "${proxy.a}", B: "${proxy.b}", C: "${proxy.c}", D: "${proxy.d}"}
      ports: [8000]
proxies:
  a: {upstream: "db1:5432"}
  b: {upstream: "db2:5432"}
  c: {upstream: "cache:6379"}
  d: {upstream: "cache:6380"}
load:
  journeys: builtin:smoke
  host: ${service.app.url}
  shape: [{until: 5s, users: 1}]
""")
    docs = exported(scenario, tmp_path / "out")
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "toxiproxy-config")
    listeners = [p["listen"] for p in yaml.safe_load(config["data"]["toxiproxy.json"])]
    assert len(set(listeners)) == 4  # db1 and db2 on 5432 no longer share one listener
    services = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Service"}
    own = {p["name"]: p["listen"].rpartition(":")[2] for p in yaml.safe_load(config["data"]["toxiproxy.json"])}
    assert [(p["port"], str(p["targetPort"])) for p in services["db1"]["ports"]] == [(5432, own["a"])]
    assert [(p["port"], str(p["targetPort"])) for p in services["db2"]["ports"]] == [(5432, own["b"])]
    assert [(p["port"], str(p["targetPort"])) for p in services["cache"]["ports"]] == [(6379, own["c"]),
                                                                                       (6380, own["d"])]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    said = capsys.readouterr().out
    assert "faultdrill-master:5557, a placeholder: pass --master HOST:PORT" in said  # the default 127.0.0.1 listen
