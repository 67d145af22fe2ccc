"""`faultdrill init --compose` output runs as written, on a small compose stack of prebuilt images."""

from __future__ import annotations

from pathlib import Path

import pytest

import docker
from faultdrill.stack import images
from tests.helpers import ROOT, faultdrill, labelled, only_run_dir, read_json

pytestmark = [pytest.mark.docker, pytest.mark.slow]

COMPOSE = """\
name: tiny
services:
  web:
    image: {image}
    environment: {{ROLE: web, BACKEND_URL: "http://backend:8000/"}}
    ports: ["8000:8000"]
    depends_on: [backend]
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
      interval: 1s
  backend:
    image: {image}
    environment: {{ROLE: backend}}
    expose: ["8000"]
"""


def test_init_writes_a_drill_that_runs_as_written(tmp_path: Path, base_image: str) -> None:
    image = images.ensure_built(docker.from_env(timeout=300), ROOT / "docker" / "smoke")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.format(image=image))
    out = tmp_path / "drill.yaml"
    init = faultdrill("init", "--compose", str(tmp_path / "docker-compose.yml"), "--out", str(out))
    assert init.returncode == 0, init.stderr
    assert "proxy backend: web → backend:8000" in init.stdout
    run = faultdrill("run", str(out), "--results", str(tmp_path / "results"), timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "results")
    summary = read_json(run_dir / "summary.json")
    assert summary["windows"]["slow backend"]["p50_ms"] >= 150  # GET / reaches the backend through the proxy
    assert labelled(run_dir.name) == []
