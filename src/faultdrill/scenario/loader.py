"""Read a scenario file into the typed model, or fail with every problem and its line.

Nothing is started before this passes. Errors name the file, the line, the field,
what is wrong and what is allowed there.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from faultdrill.errors import Problem, ScenarioError
from faultdrill.scenario import compose as compose_stack
from faultdrill.scenario import transparent
from faultdrill.scenario.check_model import SERIES_RE
from faultdrill.scenario.deps import DEPENDS_ON, describe_cycle, find_cycles, service_needs
from faultdrill.scenario.model import REF_RE, Fault, Scenario
from faultdrill.scenario.refs import RefError, parse_ref
from faultdrill.scenario.yaml_source import Loc, read_bounded, read_yaml
from faultdrill.scenario.yaml_source import dotted as _dotted


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    text: str  # the file as written (its hash is the run's provenance)
    time_scale: float = 1.0  # how ``scenario``'s times were scaled from the file's (1: as written)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def load_scenario(path: str | Path) -> LoadedScenario:
    path = Path(path)
    try:
        text = read_bounded(path)
    except FileNotFoundError:
        raise ScenarioError(str(path), [Problem(None, "", "file not found", "a path to a scenario .yaml file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [Problem(None, "", f"cannot read the file: {exc}")]) from None
    return LoadedScenario(parse_scenario(text, str(path), base_dir=path.parent), path, text)


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    data, lines = read_yaml(text, source)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(source, [Problem(1, "", f"expected a mapping of sections, got {got}",
                                             "name, description, stack, proxies, load, faults, checks, record")])
    if compose_stack.is_compose_stack(data.get("stack")):
        data = {**data, "stack": compose_stack.resolve(data["stack"], base_dir, source, lines)}
    raw_requires = data.get("requires")
    requires = [str(r) for r in raw_requires] if isinstance(raw_requires, list) else []
    try:  # the fault kinds a file names that are not installed say which package it requires
        scenario = Scenario.model_validate(data, context={"requires": requires})
    except ValidationError as exc:
        raise ScenarioError(source, [_problem(err, lines) for err in exc.errors()]) from None
    problems = list(semantic_problems(scenario, lines, base_dir))
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


# --------------------------------------------------------------------------- pydantic errors
def _problem(err: ErrorDetails, lines: dict[Loc, int], model: type[BaseModel] = Scenario, prefix: int = 0) -> Problem:
    """One pydantic error as a Problem; ``model`` is what ``err``'s location from ``prefix`` on is in."""
    loc = _clean_loc(err["loc"], lines)
    kind = err["type"]
    message = err["msg"].removeprefix("Value error, ")
    allowed = None
    if kind == "extra_forbidden" and loc:
        parent = _model_at(model, loc[prefix:-1])
        message = f"unknown field {loc[-1]!r}"
        if parent is not None:
            allowed = ", ".join(f.alias or n for n, f in parent.model_fields.items())
    elif kind == "missing":
        message = "required field is missing"
        found = _model_at(model, loc[prefix:-1])
        if found is not None and loc and isinstance(loc[-1], str) and loc[-1] in found.model_fields:
            allowed = found.model_fields[loc[-1]].description
    elif "input" in err and kind not in ("model_type", "dict_type", "list_type") and not isinstance(err["input"], (dict, list)):
        if repr(err["input"]) not in message:
            message = f"{message} (got {err['input']!r})"
    elif kind in ("model_type", "dict_type", "list_type"):
        message = f"{message} (got {type(err.get('input')).__name__})"
    return Problem(_line_for(loc, lines), _dotted(loc), message, allowed)


def _clean_loc(raw: tuple[str | int, ...], lines: dict[Loc, int]) -> Loc:
    """Drop pydantic's union/validator tags from a location, keeping real keys (even odd-looking ones)."""
    kept: Loc = ()
    for part in raw:
        if isinstance(part, int) or kept + (part,) in lines or not _is_pydantic_tag(str(part)):
            kept += (part,)
    return kept


def _is_pydantic_tag(part: str) -> bool:
    return "[" in part or part in ("str", "int", "float", "list[str]", "function-after", "function-before")


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that the value at ``loc`` is validated against, if any."""
    current: Any = model
    for part in loc:
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            extra_model = getattr(current, "extra_model", None)  # a fault's kind: its plugin's model
            current = field.annotation if field is not None else (extra_model(part) if extra_model else None)
        elif typing.get_origin(current) in (list, tuple) and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict and isinstance(part, str):
            current = typing.get_args(current)[1]
        else:
            return None
    current = _strip(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _strip(annotation: Any) -> Any:
    """Remove Annotated and Optional wrappers; prefer the model member of a union."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a  # tagged members
                    for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        else:
            return annotation


# --------------------------------------------------------------------------- cross references
def semantic_problems(scenario: Scenario, lines: dict[Loc, int], base_dir: Path | None) -> Iterable[Problem]:
    """Checks that span sections: names that must exist, references, build dirs, ordering."""
    def at(*loc: str | int) -> tuple[int | None, str]:
        return _line_for(loc, lines), _dotted(loc)

    yield from _service_problems(scenario, at, base_dir)
    yield from _cycle_problems(scenario, lines)
    yield from _proxy_problems(scenario, at)
    yield from _load_problems(scenario, at, base_dir)
    yield from _fault_problems(scenario, at)
    yield from _check_problems(scenario, at)
    yield from _plugin_problems(scenario, at, lines)


At = Callable[..., tuple[int | None, str]]  # a location in the file -> (line, dotted path)


def _service_problems(scenario: Scenario, at: At, base_dir: Path | None) -> Iterable[Problem]:
    services = scenario.stack.services
    for name, service in services.items():
        for dep in service.depends_on:
            if dep not in services:
                yield Problem(*at("stack", "services", name, "depends_on"), f"no service named {dep!r}",
                              ", ".join(services))
            elif not services[dep].autostart:
                yield Problem(*at("stack", "services", name, "depends_on"),
                              f"{dep!r} is not started with the stack (autostart: false), so nothing can wait for it")
        for alias in service.aliases:
            if alias in services:
                yield Problem(*at("stack", "services", name, "aliases"), f"alias {alias!r} is a service's own name",
                              "a new name, shared by the services it should balance across")
        if service.build is not None and base_dir is not None:
            build_dir = (base_dir / service.build).resolve()
            if not (build_dir / "Dockerfile").is_file():
                yield Problem(*at("stack", "services", name, "build"),
                              f"no Dockerfile in {build_dir}",
                              "a directory with a Dockerfile, relative to the scenario file")
        for key, value in service.env.items():
            yield from _ref_problems(value, "network", scenario, *at("stack", "services", name, "env", key))
        commands = [service.command] if isinstance(service.command, str) else (service.command or [])
        for part in commands:
            yield from _ref_problems(part, "network", scenario, *at("stack", "services", name, "command"))


def _proxy_problems(scenario: Scenario, at: At) -> Iterable[Problem]:
    services = scenario.stack.services
    for name, proxy in scenario.proxies.items():
        host = proxy.upstream.rpartition(":")[0]
        if host not in services and scenario.stack.attach is None:  # attached: checked on its network at start
            yield Problem(*at("proxies", name, "upstream"), f"upstream host {host!r} is not a service of this stack",
                          f"SERVICE:PORT with SERVICE one of {', '.join(services)}")
    for loc, message, allowed in transparent.problems(scenario):
        yield Problem(*at(*loc), message, allowed)
    listen_ports = [p.listen_port for p in scenario.proxies.values() if p.listen_port is not None]
    if len(listen_ports) != len(set(listen_ports)):
        yield Problem(*at("proxies"), "two proxies share a listen_port", "distinct ports, or omit listen_port")


def _load_problems(scenario: Scenario, at: At, base_dir: Path | None) -> Iterable[Problem]:
    yield from _ref_problems(scenario.load.host, "host", scenario, *at("load", "host"))
    if not REF_RE.search(scenario.load.host):
        yield from _host_problems(scenario, *at("load", "host"))
    journeys = scenario.load.journeys
    if not journeys.startswith(("builtin:", "pack:")) and base_dir is not None and not (base_dir / journeys).is_file():
        yield Problem(*at("load", "journeys"), f"no locustfile at {(base_dir / journeys)}",
                      "pack:NAME (an installed journey pack) or a path to a locustfile, relative to the scenario file")


def _fault_problems(scenario: Scenario, at: At) -> Iterable[Problem]:
    duration = scenario.duration
    names: set[str] = set()
    for i, fault in enumerate(scenario.faults):
        if fault.name in names:
            yield Problem(*at("faults", i, "name"), f"two faults are named {fault.name!r}", "unique names")
        names.add(fault.name)
        yield from _fault_target_problems(fault, scenario, lambda *loc, i=i: at("faults", i, *loc))
        if fault.at >= duration:
            yield Problem(*at("faults", i, "at"), f"starts at {fault.at:g}s, after the drill ends ({duration:g}s)",
                          f"a time before {duration:g}s")
        elif fault.end is not None and fault.end > duration:
            yield Problem(*at("faults", i, "for"), f"ends at {fault.end:g}s, after the drill ends ({duration:g}s)",
                          f"at most {duration - fault.at:g}s")


def _check_problems(scenario: Scenario, at: At) -> Iterable[Problem]:
    duration = scenario.duration
    names = {fault.name for fault in scenario.faults}
    for i, check in enumerate(scenario.checks):
        if isinstance(check.window, str):
            if check.window not in ("baseline", "ramp", "fault", "recovery", "run") and check.window not in names:
                yield Problem(*at("checks", i, "window"), f"unknown window {check.window!r}",
                              "baseline, ramp, fault, recovery, run, a fault's name, or {from: 10s, to: 20s}")
            if check.window in ("baseline", "ramp", "fault", "recovery") and not scenario.faults:
                yield Problem(*at("checks", i, "window"), f"window {check.window!r} needs at least one fault",
                              "run, or add a fault")
        elif check.window.to > duration:
            yield Problem(*at("checks", i, "window"), f"ends at {check.window.to:g}s, after the drill ({duration:g}s)",
                          f"a span within 0–{duration:g}s")
        yield from _series_problems(check.metric, scenario, *at("checks", i, "metric"))
    profiles = [p.name for p in scenario.load.profiles]
    for section, rules in (("checks", scenario.checks), ("abort", scenario.abort)):
        for i, rule in enumerate(rules):
            if section == "abort":
                yield from _series_problems(rule.metric, scenario, *at("abort", i, "metric"))
            if rule.profile is not None and rule.profile not in profiles:
                yield Problem(*at(section, i, "profile"), f"no client profile named {rule.profile!r}",
                              ", ".join(profiles) or "declare load.profiles first")


def _cycle_problems(scenario: Scenario, lines: dict[Loc, int]) -> Iterable[Problem]:
    """Services that wait for each other can never start: name the cycle where it begins."""
    needs = service_needs(scenario)
    for cycle in find_cycles(needs):
        first, second = cycle[0], cycle[1]
        loc: Loc = ("stack", "services", first) + (("depends_on",) if needs[first][second] == DEPENDS_ON else ())
        yield Problem(_line_for(loc, lines), _dotted(loc), describe_cycle(cycle, needs),
                      "remove one link of the cycle (a depends_on, or a reference in env/command): each "
                      "service starts only after the services it waits for")


def _fault_target_problems(fault: Fault, scenario: Scenario, at: At) -> Iterable[Problem]:
    """What the fault's kind says about this scenario (the proxy or service it acts on must exist, …)."""
    from faultdrill.plugins.registry import registry

    kind = fault.kind
    try:  # a plugin's own check: its bug is reported as such, not as a traceback
        found = list(registry().fault_kind(kind).problems(fault.spec, scenario))
    except Exception as exc:
        package = registry().faults[kind].package
        yield Problem(*at(kind), f"the {kind!r} fault kind ({package}) failed checking it: {type(exc).__name__}: {exc}",
                      f"a bug in {package}: report it to its authors")
        return
    for loc, message, allowed in found:
        yield Problem(*at(kind, *loc), message, allowed)


def _plugin_problems(scenario: Scenario, at: At, lines: dict[Loc, int]) -> Iterable[Problem]:
    """Packages the scenario requires, sampler kinds it names (and their options), its journey pack."""
    from faultdrill.plugins.registry import JOURNEYS, SAMPLERS, installed, pip_argument, registry

    found = registry()
    for i, requirement in enumerate(scenario.requires):
        if not installed(requirement):
            yield Problem(*at("requires", i), f"package {requirement!r} is not installed",
                          f"pip install {pip_argument(requirement)}")
    for name, raw in scenario.record.samplers.items():
        if name not in found.samplers:
            yield Problem(*at("record", "samplers", name), found.unknown(SAMPLERS, name, scenario.requires))
            continue
        kind = found.sampler_kind(name)
        try:
            options = kind.options_model.model_validate(raw or {})
        except ValidationError as exc:
            for err in exc.errors():
                yield _problem({**err, "loc": ("record", "samplers", name, *err["loc"])}, lines,
                               model=kind.options_model, prefix=3)
            continue
        for loc, message, allowed in kind.problems(options, scenario):
            yield Problem(*at("record", "samplers", name, *loc), message, allowed)
    journeys = scenario.load.journeys
    for prefix in ("builtin:", "pack:"):
        if journeys.startswith(prefix) and journeys.removeprefix(prefix) not in found.journeys:
            yield Problem(*at("load", "journeys"), found.unknown(JOURNEYS, journeys.removeprefix(prefix),
                                                                 scenario.requires))


def _series_problems(metric: str, scenario: Scenario, line: int | None, field: str) -> Iterable[Problem]:
    """A recorded series must name a service (or proxy) of this stack that can produce it."""
    match = SERIES_RE.match(metric)
    if not match:
        return
    source, name = match.group(1), match.group(2)
    services = scenario.stack.services
    if source == "proxy":
        if name not in scenario.proxies:
            yield Problem(line, field, f"{metric}: no proxy named {name!r}", ", ".join(scenario.proxies) or "none")
        return
    known = list(services) + (["toxiproxy"] if scenario.proxies and source in ("resources", "connections") else [])
    if name not in known:
        yield Problem(line, field, f"{metric}: no service named {name!r}", ", ".join(known))
    elif source == "app" and services[name].metrics is None:
        yield Problem(line, field, f"{metric}: service {name!r} declares no metrics endpoint",
                      f"add metrics: {{path: /metrics}} to stack.services.{name}")
    elif source == "db" and services[name].postgres is None:
        yield Problem(line, field, f"{metric}: service {name!r} is not marked as a database",
                      f"add postgres: {{user: ..., database: ...}} to stack.services.{name}")
    elif source == "ingress" and services[name].stub_status is None:
        yield Problem(line, field, f"{metric}: service {name!r} declares no nginx status page",
                      f"add stub_status: {{port: PORT}} to stack.services.{name} (and publish PORT)")


def _ref_problems(value: str, allowed: str, scenario: Scenario, line: int | None, field: str) -> Iterable[Problem]:
    for match in REF_RE.finditer(value):
        try:
            ref = parse_ref(match.group(1))
        except RefError as exc:
            yield Problem(line, field, str(exc))
            continue
        if ref.kind == "service" and ref.name not in scenario.stack.services:
            yield Problem(line, field, f"${{{ref.text}}}: no service named {ref.name!r}",
                          ", ".join(scenario.stack.services))
        elif ref.kind == "proxy" and ref.name not in scenario.proxies:
            yield Problem(line, field, f"${{{ref.text}}}: no proxy named {ref.name!r}",
                          ", ".join(scenario.proxies) or "declare it under proxies: first")
        elif ref.where == "host" and allowed == "network":
            yield Problem(line, field, f"${{{ref.text}}} is a host address (127.0.0.1), unreachable from a container",
                          "an in-stack address: ${proxy.NAME} or ${service.NAME.addr}")
        elif ref.where == "network" and allowed == "host" and ref.kind != "run":
            yield Problem(line, field, f"${{{ref.text}}} is an address inside the Docker network, unreachable from the load generator",
                          "a host address: ${service.NAME.url} or ${proxy.NAME.url}")
        elif ref.kind == "service" and ref.where == "host":
            service = scenario.stack.services[ref.name]
            port = ref.port if ref.port is not None else (service.ports[0] if service.ports else None)
            if port is None or port not in service.ports:
                yield Problem(line, field, f"${{{ref.text}}}: service {ref.name} publishes no port {port or ''}".rstrip(),
                              f"add the port to stack.services.{ref.name}.ports")


def _host_problems(scenario: Scenario, line: int | None, field: str) -> Iterable[Problem]:
    from faultdrill.load.safety import host_problem  # local: keep the model import-light

    problem = host_problem(scenario.load.host, scenario.load.allow_hosts)
    if problem:
        yield Problem(line, field, problem, "a ${service.NAME.url} reference, 127.0.0.1/localhost, or list the host in load.allow_hosts")
