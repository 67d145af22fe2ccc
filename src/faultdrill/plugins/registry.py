"""Finding what is installed: fault kinds, sampler kinds and journey packs, from Python entry points.

Every one comes from an entry point in its group (``faultdrill.faults``, ``faultdrill.samplers``,
``faultdrill.journeys``), faultdrill's own built-ins included. Discovery loads fault and sampler
classes (not journey modules: they import Locust) and checks each against the API version; one that
cannot be used is kept as *broken* with the reason, and only a scenario that names it fails (with
that reason). ``registry()`` is discovered once per process; ``registry.cache_clear()`` forgets it
(tests that install a package on ``sys.path`` call it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from faultdrill.errors import FaultdrillError
from faultdrill.plugins.api import API_VERSION, FaultKind, SamplerKind

FAULTS = "faultdrill.faults"
SAMPLERS = "faultdrill.samplers"
JOURNEYS = "faultdrill.journeys"
GROUPS = (FAULTS, SAMPLERS, JOURNEYS)
SELF = "faultdrill"
NOUN = {FAULTS: "fault kind", SAMPLERS: "sampler", JOURNEYS: "journey pack"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FAULT_FIELDS = ("name", "at", "for", "for_", "when", "repeat", "ramp", "hidden", "manual")  # a fault's own keys


class PluginError(FaultdrillError):
    """A plugin that is named by a scenario but cannot be used (not installed, broken, wrong API)."""

    exit_code = 2


@dataclass(frozen=True)
class Entry:
    """One installed thing: its name (what a scenario writes), where it comes from, and the object."""

    group: str
    name: str
    value: str  # module:attribute (or module, for journey packs)
    package: str  # the distribution that registers it
    version: str
    obj: Any = None  # the FaultKind / SamplerKind class; None for journey packs

    @property
    def builtin(self) -> bool:
        return self.package == SELF


@dataclass(frozen=True)
class Broken:
    group: str
    name: str
    package: str
    reason: str

    def line(self) -> str:
        return f"{NOUN[self.group]} {self.name!r} from {self.package}: {self.reason}"


@dataclass
class Registry:
    faults: dict[str, Entry] = field(default_factory=dict)
    samplers: dict[str, Entry] = field(default_factory=dict)
    journeys: dict[str, Entry] = field(default_factory=dict)
    broken: list[Broken] = field(default_factory=list)

    def table(self, group: str) -> dict[str, Entry]:
        return {FAULTS: self.faults, SAMPLERS: self.samplers, JOURNEYS: self.journeys}[group]

    @classmethod
    def discover(cls, entry_points: Iterable[metadata.EntryPoint] | None = None) -> Registry:
        found = cls()
        points = list(entry_points) if entry_points is not None else [
            ep for group in GROUPS for ep in metadata.entry_points(group=group)]
        for ep in sorted(points, key=lambda e: (e.group, e.name, _package(e))):
            found._add(ep)
        return found

    def _add(self, ep: metadata.EntryPoint) -> None:
        package, version = _package(ep), _version(ep)
        table = self.table(ep.group)
        if ep.name in table and table[ep.name].package != package:
            other = table.pop(ep.name)
            self.broken.append(Broken(ep.group, ep.name, f"{other.package} and {package}",
                                      "two installed packages register this name; uninstall one"))
            return
        if any(b.group == ep.group and b.name == ep.name for b in self.broken):
            return
        if not NAME_RE.match(ep.name) or (ep.group == FAULTS and ep.name in FAULT_FIELDS):
            self.broken.append(Broken(ep.group, ep.name, package, "not a usable name (lower case letters, digits "
                                      f"and _, starting with a letter; not one of {', '.join(FAULT_FIELDS[:-2])}…)"))
            return
        try:
            obj = None if ep.group == JOURNEYS else _load(ep)
        except Exception as exc:
            self.broken.append(Broken(ep.group, ep.name, package, f"cannot be loaded ({type(exc).__name__}: {exc})"))
            return
        problem = _api_problem(ep.group, obj, package)
        if problem:
            self.broken.append(Broken(ep.group, ep.name, package, problem))
            return
        table[ep.name] = Entry(ep.group, ep.name, ep.value, package, version, obj)

    # ------------------------------------------------------------------ lookups (raise what a user can act on)
    def fault_kind(self, name: str) -> type[FaultKind[Any]]:
        return self.fault_entry(name).obj  # type: ignore[no-any-return]

    def fault_entry(self, name: str) -> Entry:
        """The installed fault kind and the package it came from (raises PluginError naming what to install)."""
        return self._get(FAULTS, name)

    def sampler_kind(self, name: str) -> type[SamplerKind[Any]]:
        return self._get(SAMPLERS, name).obj  # type: ignore[no-any-return]

    def journey_module(self, name: str) -> str:
        return self._get(JOURNEYS, name).value

    def _get(self, group: str, name: str) -> Entry:
        table = self.table(group)
        if name in table:
            return table[name]
        self.check_self()
        raise PluginError(self.unknown(group, name))

    def unknown(self, group: str, name: str, requires: Iterable[str] = ()) -> str:
        """Why ``name`` cannot be used, and which package to install (pure over the registry)."""
        noun = NOUN[group]
        if not any(e.builtin for e in self.faults.values()):  # faultdrill's own kinds are the canary
            return (f"faultdrill's installed metadata registers no built-in {noun}s, so {name!r} cannot be found: "
                    f"it was installed before the plugin API; reinstall it (pip install -e . from the checkout)")
        for broken in self.broken:
            if broken.group == group and broken.name == name:
                return f"{noun} {name!r} is installed but cannot be used: {broken.reason} (package {broken.package})"
        known = ", ".join(sorted(self.table(group))) or "none"
        message = f"no installed package provides {noun} {name!r}; installed {noun}s: {known}"
        missing = [r for r in requires if not installed(r)]
        if missing:
            return message + f"; the scenario requires {', '.join(missing)}, not installed here: pip install " + \
                " ".join(pip_argument(r) for r in missing)
        present = sorted({requirement_name(r) for r in requires})
        if present:
            return message + f"; the packages the scenario requires ({', '.join(present)}) are installed and do " \
                             f"not provide it: upgrade them, or install the package that does (pip install …)"
        return message + "; install the package that provides it (pip install …), and name it under the " \
                         "scenario's requires: so this message can say which"

    def check_self(self) -> None:
        """faultdrill's own kinds come from its installed metadata: one installed before the plugin API
        has none, and nothing would work. Say how to fix it instead of calling every kind unknown."""
        if not any(e.builtin for e in self.faults.values()) and not any(b.package == SELF for b in self.broken):
            raise PluginError("faultdrill's installed metadata registers no built-in fault kinds: it was "
                              "installed before the plugin API",
                              hint="reinstall it: pip install -e . (from the checkout) or pip install faultdrill")


@functools.cache
def registry() -> Registry:
    return Registry.discover()


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]


def pip_argument(requirement: str) -> str:
    """A requirement as a shell argument: quoted when it has a version or extras."""
    return repr(requirement) if re.search(r"[<>=!~;\[ ]", requirement) else requirement


def installed(requirement: str) -> bool:
    try:
        metadata.distribution(requirement_name(requirement))
    except metadata.PackageNotFoundError:
        return False
    return True


def _package(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return str(dist.name) if dist is not None else "?"


def _version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return str(dist.version) if dist is not None else "?"


def _load(ep: metadata.EntryPoint) -> Any:
    return ep.load()


def _api_problem(group: str, obj: Any, package: str) -> str | None:
    if group == JOURNEYS:
        return None
    base = FaultKind if group == FAULTS else SamplerKind
    if not (isinstance(obj, type) and issubclass(obj, base)):
        return f"{obj!r} is not a {base.__name__} subclass"
    wanted = getattr(obj, "api_version", None)
    if wanted != API_VERSION:
        return (f"written for faultdrill plugin API {wanted}, and this faultdrill speaks API {API_VERSION}: "
                f"install a version of {package} made for this faultdrill")
    if group == FAULTS and not hasattr(obj, "spec_model"):
        return f"{obj.__name__} has no spec_model"
    return None
