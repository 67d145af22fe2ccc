"""A run's directory and the names of the files in it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path


def new_run_id(scenario_name: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stamp}-{scenario_name[:24]}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def create(cls, results: Path, run_id: str) -> RunDir:
        path = results / run_id
        path.mkdir(parents=True, exist_ok=False)
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    timeseries = property(lambda self: self.path / "timeseries.csv")
    requests = property(lambda self: self.path / "requests.csv")
    histograms = property(lambda self: self.path / "histograms.jsonl")
    events = property(lambda self: self.path / "events.jsonl")
    journal = property(lambda self: self.path / "journal.jsonl")
    run_json = property(lambda self: self.path / "run.json")
    summary_json = property(lambda self: self.path / "summary.json")
    latency_png = property(lambda self: self.path / "latency.png")
    locust_log = property(lambda self: self.path / "locust.log")
    scenario_copy = property(lambda self: self.path / "scenario.yaml")
