"""Reading a compose file: YAML with line numbers, ``.env`` and interpolation, the compose-spec schema.

The schema is the compose specification's own JSON schema, as vendored by ``check-jsonschema``
(a maintained package that tracks it); ``jsonschema`` validates against it. What the schema
accepts but faultdrill cannot honour is refused later, by ``compose_unsupported``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from dotenv import dotenv_values

from faultdrill.errors import Problem, ScenarioError
from faultdrill.scenario.compose_interpolate import interpolate_tree
from faultdrill.scenario.yaml_source import Loc, dotted, read_bounded, read_yaml

MAX_SCHEMA_PROBLEMS = 12


@dataclass(frozen=True)
class ComposeFile:
    path: Path
    data: dict[str, Any]  # interpolated
    lines: dict[Loc, int]
    env: Mapping[str, str]  # what ${VAR} read: .env beside the file, overridden by the process environment

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def line(self, loc: Loc) -> int | None:
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self.lines:
                return self.lines[loc[:cut]]
        return None

    def problem(self, loc: Loc, message: str, allowed: str | None = None) -> Problem:
        return Problem(self.line(loc), dotted(loc), message, allowed)


def compose_env(directory: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env: dict[str, str] = {}
    dotenv = directory / ".env"
    if dotenv.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return env


def read_compose(path: Path, environ: Mapping[str, str] | None = None) -> ComposeFile:
    source = str(path)
    try:
        text = read_bounded(path)
    except FileNotFoundError:
        raise ScenarioError(source, [Problem(None, "", "compose file not found",
                                             "stack.compose: a path to a docker-compose.yml, relative to the scenario")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [Problem(None, "", f"cannot read the compose file: {exc}")]) from None
    raw, lines = read_yaml(text, source)
    if not isinstance(raw, dict):
        raise ScenarioError(source, [Problem(1, "", "a compose file is a mapping with a services: section")])
    env = compose_env(path.parent, environ)
    data, errors = interpolate_tree(raw, env)
    if errors:
        raise ScenarioError(source, [Problem(_line(lines, loc), dotted(loc), message,
                                             "set the variable (environment or .env beside the compose file), "
                                             "give a default ${VAR:-default}, or write $$ for a literal $")
                                     for loc, message in errors])
    compose = ComposeFile(path, data, lines, env)
    problems = schema_problems(compose)
    if problems:
        raise ScenarioError(source, problems)
    return compose


def _line(lines: dict[Loc, int], loc: Loc) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


@lru_cache(maxsize=1)
def compose_schema() -> dict[str, Any]:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_problems(compose: ComposeFile) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(compose.data), key=lambda e: (compose.line(tuple(e.absolute_path)) or 0))
    out: list[Problem] = []
    for error in errors[:MAX_SCHEMA_PROBLEMS]:
        best = jsonschema.exceptions.best_match([error])
        loc = tuple(best.absolute_path)
        extras = _unexpected_keys(best)
        if extras:
            known = ", ".join(sorted(best.schema.get("properties", {})))
            out.extend(compose.problem(loc + (key,), f"unknown key {key!r} (not in the compose specification)",
                                       known or None) for key in extras)
            continue
        out.append(compose.problem(loc, f"not valid compose: {_short(best.message)}",
                                   "see the compose specification for this key"))
    return out


def _unexpected_keys(error: jsonschema.ValidationError) -> list[str]:
    if error.validator not in ("additionalProperties", "unevaluatedProperties") or not isinstance(error.instance, dict):
        return []
    schema = error.schema if isinstance(error.schema, dict) else {}
    patterns = list(schema.get("patternProperties", {}))
    return [str(k) for k in error.instance
            if k not in schema.get("properties", {}) and not any(re.search(p, str(k)) for p in patterns)]


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."
