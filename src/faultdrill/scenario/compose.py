"""``stack: {compose: docker-compose.yml}``: a team's compose file as the drill's stack.

Read (``compose_load``), refused where unsupported (``compose_unsupported``), translated into the
built-in stack's terms (``compose_translate``). The result is validated by the same typed model as a
stack written in the scenario, so everything downstream (faults, recorder, report) is unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

from faultdrill.errors import Problem, ScenarioError
from faultdrill.scenario.common import Strict
from faultdrill.scenario.compose_load import ComposeFile, read_compose, schema_problems
from faultdrill.scenario.compose_translate import translate
from faultdrill.scenario.compose_unsupported import unsupported
from faultdrill.scenario.yaml_source import Loc, dotted

if TYPE_CHECKING:  # imported when used (init_from_compose), not on every scenario load
    from faultdrill.scenario.compose_init import InitPlan


class ComposeStack(Strict):
    """The ``stack:`` section when the stack is a compose file."""

    compose: str = Field(description="path of the compose file, relative to the scenario file")
    services: list[str] = Field([], description="take only these services (and what they depend on)")
    profiles: list[str] = Field([], description="compose profiles to enable")
    override: dict[str, Any] = Field({}, description="drill-only changes, in compose terms; KEY: null removes a key")
    transparent: bool = Field(True, description="proxies take their upstream's name on the run network")


def is_compose_stack(stack: object) -> bool:
    return isinstance(stack, dict) and "compose" in stack


def resolve(stack: dict[str, Any], base_dir: Path | None, source: str, lines: dict[Loc, int],
            environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The built-in ``stack:`` data for a compose stack section. Raises ScenarioError (exit 2)."""
    try:
        spec = ComposeStack.model_validate(stack)
    except ValidationError as exc:
        raise ScenarioError(source, [Problem(_line(lines, ("stack",) + tuple(e["loc"])), dotted(("stack",) + tuple(e["loc"])),
                                             e["msg"], "compose, services, profiles, override, transparent")
                                     for e in exc.errors()]) from None
    path = ((base_dir or Path.cwd()) / spec.compose).resolve()
    compose = read_compose(path, environ)
    if spec.override:
        compose = _overridden(compose, spec.override, source, lines)
    names, problems = select(compose, spec.services, spec.profiles, source, lines)
    problems += unsupported(compose, names)
    translated, more = translate(compose, names) if not problems else ({}, [])
    problems += more
    if problems:
        raise ScenarioError(str(compose.path), problems)
    translated["transparent"] = spec.transparent
    for name, svc in translated["services"].items():
        svc["aliases"] = [a for a in svc.get("aliases", []) if a != name and a not in translated["services"]]
        if not svc["aliases"]:
            svc.pop("aliases")
    return translated


def load_compose(path: Path, environ: Mapping[str, str] | None = None) -> tuple[ComposeFile, dict[str, Any]]:
    """A compose file, all its default services, translated (for ``faultdrill init``)."""
    compose = read_compose(path, environ)
    names, problems = select(compose, [], [], str(path), {})
    problems += unsupported(compose, names)
    translated, more = translate(compose, names) if not problems else ({}, [])
    if problems or more:
        raise ScenarioError(str(path), problems + more)
    return compose, translated


def select(compose: ComposeFile, wanted: list[str], profiles: list[str], source: str,
           lines: dict[Loc, int]) -> tuple[list[str], list[Problem]]:
    """The services to run: those named (with what they depend on), else every service whose
    profiles are enabled (or that has none), as ``docker compose up`` does."""
    services = compose.data.get("services") or {}
    problems = [Problem(_line(lines, ("stack", "services", i)), f"stack.services[{i}]", f"no service {name!r} in {compose.path.name}",
                        ", ".join(services)) for i, name in enumerate(wanted) if name not in services]
    if problems:
        return [], problems
    if wanted:
        chosen: list[str] = []
        todo = list(wanted)
        while todo:
            name = todo.pop(0)
            if name in chosen:
                continue
            chosen.append(name)
            deps = services[name].get("depends_on") or []
            todo.extend(deps if isinstance(deps, list) else list(deps))
    else:
        chosen = [n for n, s in services.items() if not s.get("profiles") or set(s["profiles"]) & set(profiles)]
    missing = [(n, d) for n in chosen for d in _deps(services[n]) if d not in services]
    for name, dep in missing:
        problems.append(compose.problem(("services", name, "depends_on"), f"no service {dep!r}", ", ".join(services)))
    if not chosen and not problems:
        problems.append(compose.problem(("services",), "no service to run (all behind profiles?)",
                                        "enable a profile with stack.profiles, or name services in stack.services"))
    return [n for n in services if n in chosen], problems


def _deps(svc: dict[str, Any]) -> list[str]:
    deps = svc.get("depends_on") or []
    return list(deps)


def _overridden(compose: ComposeFile, override: dict[str, Any], source: str, lines: dict[Loc, int]) -> ComposeFile:
    data = merge(copy.deepcopy(compose.data), override)
    changed = ComposeFile(compose.path, data, compose.lines, compose.env)
    problems = schema_problems(changed)
    if problems:
        raise ScenarioError(source, [Problem(_line(lines, ("stack", "override")), "stack.override", p.message,
                                             f"{p.field}: {p.allowed}" if p.allowed else p.field) for p in problems])
    return changed


def merge(base: Any, change: Any) -> Any:
    """Mappings merge key by key (``None`` removes a key); anything else is replaced."""
    if not isinstance(base, dict) or not isinstance(change, dict):
        return copy.deepcopy(change)
    for key, value in change.items():
        if value is None:
            base.pop(key, None)
        elif key in base:
            base[key] = merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _line(lines: dict[Loc, int], loc: Loc) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


@dataclass(frozen=True)
class InitResult:
    scenario_path: Path
    locustfile_path: Path
    plan: InitPlan


def init_from_compose(compose_path: Path, out: Path | None = None, *, force: bool = False) -> InitResult:
    """Write a starting scenario (and its locustfile) for a compose file; it validates as written."""
    from faultdrill.errors import UsageError
    from faultdrill.scenario.compose_init import plan_init, render
    from faultdrill.scenario.loader import parse_scenario

    compose, translated = load_compose(compose_path)
    names = list(translated["services"])
    if out is None:
        project = compose.data.get("name") or compose.base_dir.resolve().name
        out = Path(f"{project}-drill.yaml")
    plan = plan_init(compose, names, out)
    text = render(plan)
    locustfile = out.parent / plan.scenario["load"]["journeys"]
    for path in (out, locustfile):
        if path.exists() and not force:
            raise UsageError(f"{path} exists; not overwriting it", hint="choose another --out, or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    locustfile.write_text(plan.locustfile, encoding="utf-8")
    parse_scenario(text, str(out), base_dir=out.parent)  # what we write validates as written
    out.write_text(text, encoding="utf-8")
    return InitResult(out, locustfile, plan)
