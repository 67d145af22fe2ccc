"""``scenario.yaml`` in a run directory: the scenario as the run ran it, not the file as written.

The copy is faultdrill's own reading of the file: times as they ran (a time-scaled run's scaled
windows, so ``faultdrill report`` re-judges with the run's windows), secret-looking values
redacted the same way as in ``run.json`` (redacted values are still strings, so the copy parses).
The original file's path and sha256 are kept in the header here and in ``run.json``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from faultdrill.recorder.provenance import REDACTED, redact
from faultdrill.scenario.loader import LoadedScenario


def scenario_as_run(loaded: LoadedScenario) -> str:
    """YAML that parses back into ``loaded.scenario`` (with secrets redacted). Pure."""
    data = loaded.scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    body = yaml.safe_dump(redact(data), sort_keys=False, allow_unicode=True, width=110)
    sha = hashlib.sha256(loaded.text.encode()).hexdigest()
    scaled = f", times scaled ×{loaded.time_scale:g}" if loaded.time_scale != 1 else ""
    header = (f"# The scenario as this run ran it (faultdrill's reading of the file{scaled};\n"
              f"# secret-looking values replaced by {REDACTED}). `faultdrill report` judges from this copy.\n"
              f"# original: {loaded.path}\n"
              f"# original sha256: {sha}\n")
    return header + body


def write_scenario_copy(path: Path, loaded: LoadedScenario) -> None:
    path.write_text(scenario_as_run(loaded), encoding="utf-8")
