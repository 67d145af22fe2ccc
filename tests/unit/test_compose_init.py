"""`faultdrill init --compose`: a starting scenario inferred from a compose file, valid as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultdrill.cli import main
from faultdrill.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "compose-shop" / "docker-compose.yml"


def test_init_infers_a_proxy_per_dependency_and_writes_a_valid_scenario(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "drills" / "shop.yaml"
    assert main(["init", "--compose", str(SHOP), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "proxy cache: api → cache:11211" in printed and "proxy queue: api, worker → queue:6379" in printed
    assert "look at:" in printed and "locustfile" in printed
    scenario = load_scenario(out).scenario
    assert {n: p.upstream for n, p in scenario.proxies.items()} == {"cache": "cache:11211", "queue": "queue:6379"}
    assert scenario.stack.transparent and set(scenario.stack.services) == {"api", "worker", "cache", "queue"}
    assert scenario.load.host == "${service.api.url.8080}"
    assert [(f.name, f.toxic.type) for f in scenario.faults] == [("slow cache", "latency"), ("slow queue", "latency")]
    windows = {c.window for c in scenario.checks}
    assert {"baseline", "fault", "recovery"} <= windows
    assert (out.parent / "shop-locustfile.py").is_file()
    assert main(["validate", str(out)]) == 0


def test_init_does_not_overwrite_and_names_what_it_cannot_infer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  app:\n    image: example/app\n    depends_on: [thing]\n  thing:\n    image: example/thing\n")
    out = tmp_path / "d.yaml"
    assert main(["init", "--compose", str(compose), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "thing: no port known" in printed and "no service publishes an HTTP port" in printed
    assert main(["init", "--compose", str(compose), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_init_on_an_unsupported_compose_file_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  app:\n    image: example/app\n    secrets: [token]\nsecrets:\n  token: {file: t}\n")
    assert main(["init", "--compose", str(compose), "--out", str(tmp_path / "d.yaml")]) == 2
    err = capsys.readouterr().err
    assert "docker-compose.yml:4: services.app.secrets" in err and not (tmp_path / "d.yaml").exists()
