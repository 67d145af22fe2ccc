"""The plugin API: a third-party package's fault kind, sampler and journey pack found by entry point,
validated with line numbers, applied, healed and healed from its journal; the built-ins go through the
same registry; what a user reads when a kind is not installed; ``faultdrill list``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from faultdrill.clock import RunClock
from faultdrill.errors import ScenarioError
from faultdrill.faults.actions import action_for
from faultdrill.faults.engine import FaultEngine, ScheduledFault
from faultdrill.faults.journal import Journal, pending
from faultdrill.faults.recovery import heal_journal
from faultdrill.plugins.registry import registry
from faultdrill.reaper.heal import Reaper
from faultdrill.reaper.plan import Session
from faultdrill.reaper.record import apply_record, build
from faultdrill.recorder.events import EventLog
from faultdrill.recorder.sampling import enabled_sampler_kinds
from faultdrill.scenario import parse_scenario
from faultdrill.scenario.fault_model import FAULT_KINDS
from tests.helpers import ROOT
from tests.plugin_dist import install_dist

# A config-flag flip: the "service" is a JSON file of flags; healing puts the previous value back.
PLUGIN = '''
import json
from pathlib import Path
from pydantic import BaseModel, ConfigDict
from faultdrill.plugins.api import API_VERSION, FaultKind, Healed, NoOptions, Sampler, SamplerKind

class FlagSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str
    flag: str
    value: bool

class FlagFlip(FaultKind[FlagSpec]):
    """Flip a feature flag in a JSON flags file."""
    spec_model = FlagSpec
    api_version = API_VERSION + OFFSET

    def prepare(self):
        self.previous = json.loads(Path(self.spec.file).read_text()).get(self.spec.flag)

    def journal_record(self):
        return {"file": self.spec.file, "flag": self.spec.flag, "previous": self.previous}

    def apply(self):
        _set(self.spec.file, self.spec.flag, self.spec.value)

    def heal(self):
        _set(self.spec.file, self.spec.flag, self.previous)

    @classmethod
    def heal_from_record(cls, record, target):
        if not Path(record["file"]).exists():
            return Healed(False, "the flags file is gone")
        _set(record["file"], record["flag"], record["previous"])
        return Healed(True, f"{record['flag']} back to {record['previous']}")

    @classmethod
    def describe_record(cls, record):
        return f"flag {record['flag']} in {record['file']}"

def _set(file, flag, value):
    flags = json.loads(Path(file).read_text())
    flags[flag] = value
    Path(file).write_text(json.dumps(flags))

class FlagOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str
    every: int = 1

class FlagState(SamplerKind[FlagOptions]):
    """The flags file's values, each tick."""
    options_model = FlagOptions

    @classmethod
    def samplers(cls, target, options):
        return []
'''


def plugin_site(root: Path, offset: int = 0) -> Path:
    site = root / "site"
    site.mkdir()
    (site / "fd_flagflip.py").write_text(PLUGIN.replace("OFFSET", str(offset)))
    (site / "fd_flag_journeys.py").write_text('"""Flag admins toggling flags."""\nUSER_CLASSES = [Admin]\n')
    return install_dist(site, "faultdrill-flagflip", "0.3.1", {
        "faultdrill.faults": {"flag": "fd_flagflip:FlagFlip"},
        "faultdrill.samplers": {"flag_state": "fd_flagflip:FlagState"},
        "faultdrill.journeys": {"flag_admins": "fd_flag_journeys"},
    })


def _install(monkeypatch: pytest.MonkeyPatch, site: Path) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(site))
    registry.cache_clear()
    yield site
    registry.cache_clear()
    sys.modules.pop("fd_flagflip", None)


@pytest.fixture
def flag_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from _install(monkeypatch, plugin_site(tmp_path))


@pytest.fixture
def future_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from _install(monkeypatch, plugin_site(tmp_path, offset=1))


def scenario_text(fault: str, extra: str = "") -> str:
    return f"""\
name: flags
{extra}stack:
  services:
    web: {{image: "nginx:1", ports: [8000]}}
load:
  journeys: builtin:smoke
  host: ${{service.web.url}}
  shape:
    - {{until: 10s, users: 1}}
faults:
  - name: dark launch
    at: 1s
    for: 2s
{fault}
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def flag_fault(file: Path, value: str = "true") -> str:
    return f"    flag: {{file: {file}, flag: new_checkout, value: {value}}}"


# --------------------------------------------------------------------------- the registry
def test_the_built_ins_come_from_faultdrills_own_entry_points_through_the_same_registry() -> None:
    declared = {group: {ep.name for ep in metadata.entry_points(group=group) if ep.dist and ep.dist.name == "faultdrill"}
                for group in ("faultdrill.faults", "faultdrill.samplers", "faultdrill.journeys")}
    assert declared["faultdrill.faults"] == set(FAULT_KINDS)
    assert declared["faultdrill.samplers"] == {"connections", "resources", "app_metrics", "database", "proxies",
                                               "ingress"}
    assert declared["faultdrill.journeys"] == {"smoke", "ticketing"}
    found = registry()
    for group, names in declared.items():
        table = found.table(group)
        assert names <= set(table) and all(table[n].builtin for n in names), (group, found.broken)
    assert all(found.faults[k].obj.summary() for k in FAULT_KINDS)  # each says what it does in `list`


# --------------------------------------------------------------------------- a third-party kind
def test_a_third_party_kind_is_validated_applied_healed_and_healed_from_its_journal(flag_plugin: Path,
                                                                                      tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"new_checkout": False}))
    scenario = parse_scenario(scenario_text(flag_fault(flags)), "flags.yaml")
    fault = scenario.faults[0]
    assert fault.kind == "flag" and fault.spec.value is True  # type: ignore[attr-defined]
    assert registry().faults["flag"].package == "faultdrill-flagflip"

    journal_path = tmp_path / "journal.jsonl"
    now = [1.5]
    engine = FaultEngine([ScheduledFault(fault, action_for(fault, scenario, None, {}))], Journal(journal_path),
                         EventLog(tmp_path / "events.jsonl", RunClock()), lambda: now[0])
    engine.tick()
    assert json.loads(flags.read_text()) == {"new_checkout": True}  # applied
    [line] = pending(journal_path)
    assert line["type"] == "flag" and line["package"] == "faultdrill-flagflip" and line["previous"] is False
    now[0] = 3.5
    engine.tick()
    assert json.loads(flags.read_text()) == {"new_checkout": False} and pending(journal_path) == []  # healed

    # applied again, and the run dies: only the journal knows
    engine2 = FaultEngine([ScheduledFault(fault, action_for(fault, scenario, None, {}))], engine.journal,
                          EventLog(tmp_path / "events2.jsonl", RunClock()), lambda: 1.5)
    engine2.tick()
    engine.journal.close()
    assert json.loads(flags.read_text()) == {"new_checkout": True} and len(pending(journal_path)) == 1
    [healing] = heal_journal(journal_path)
    assert (healing.state, healing.what, healing.detail) == ("healed", f"flag new_checkout in {flags}",
                                                             "new_checkout back to False")
    assert json.loads(flags.read_text()) == {"new_checkout": False} and pending(journal_path) == []


def test_a_plugin_kinds_bad_field_is_named_by_file_line_and_field(flag_plugin: Path, tmp_path: Path) -> None:
    text = scenario_text(flag_fault(tmp_path / "f.json", "maybe"))
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "flags.yaml")
    [problem] = err.value.problems
    line = line_of(text, "flag: {")
    assert (problem.line, problem.field) == (line, "faults[0].flag.value")
    assert f"flags.yaml:{line}: faults[0].flag.value" in str(err.value) and "maybe" in str(err.value)

    bad = "    flag: {file: f.json, flag: x, value: true, colour: red}"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario_text(bad), "flags.yaml")
    [problem] = err.value.problems
    assert problem.field == "faults[0].flag.colour" and problem.allowed == "file, flag, value"


def test_a_kind_that_is_not_installed_names_the_line_and_the_package_to_install() -> None:
    fault = "    redis_failover: {service: cache}"
    scenario = scenario_text(fault, extra="requires: [faultdrill-redis>=1.2]\n")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario, "redis.yaml")
    text = str(err.value)
    by_field = {p.field: p for p in err.value.problems}
    kind = by_field["faults[0].redis_failover"]
    line = line_of(scenario, "redis_failover")
    assert kind.line == line
    assert "no installed package provides fault kind 'redis_failover'" in kind.message
    assert "toxic" in kind.message and "container" in kind.message  # what is installed
    assert "pip install 'faultdrill-redis>=1.2'" in kind.message
    assert f"redis.yaml:{line}: faults[0].redis_failover" in text

    with pytest.raises(ScenarioError) as err:  # no requires: it cannot know the package, and says how to tell it
        parse_scenario(scenario_text(fault), "redis.yaml")
    assert "install the package that provides it" in str(err.value) and "requires:" in str(err.value)


def test_a_required_package_that_is_missing_is_named_on_its_line() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario_text("    toxic: {proxy: p, type: latency, latency: 1s}",
                                     extra="requires: [faultdrill-nonesuch]\n"), "x.yaml")
    problem = next(p for p in err.value.problems if p.field.startswith("requires"))
    assert problem.line == 2 and "'faultdrill-nonesuch' is not installed" in problem.message
    assert problem.allowed == "pip install faultdrill-nonesuch"


def test_a_plugin_for_another_api_version_is_refused_naming_its_package(future_plugin: Path, tmp_path: Path) -> None:
    broken = {b.name: b for b in registry().broken}
    assert "written for faultdrill plugin API 2" in broken["flag"].reason
    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario_text(flag_fault(tmp_path / "f.json")), "flags.yaml")
    assert "fault kind 'flag' is installed but cannot be used" in str(err.value)
    assert "faultdrill-flagflip" in str(err.value)


# --------------------------------------------------------------------------- samplers and journeys
def test_sampler_kinds_are_chosen_by_the_scenario_and_their_options_named_by_line(flag_plugin: Path) -> None:
    fault = "    toxic: {proxy: p, type: latency, latency: 1s}\nproxies:\n  p: {upstream: 'web:8000'}"
    record = "record:\n  resources: false\n  samplers:\n    flag_state: {file: flags.json, every: 2}\n"
    scenario = parse_scenario(scenario_text(fault, extra=record), "s.yaml")
    chosen = dict(enabled_sampler_kinds(scenario.record))
    assert chosen["flag_state"].every == 2
    assert "resources" not in chosen and {"connections", "proxies", "app_metrics"} <= set(chosen)

    line = line_of(scenario_text(fault, extra=record), "flag_state:")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario_text(fault, extra=record.replace("every: 2", "every: often")), "s.yaml")
    [problem] = err.value.problems
    assert (problem.line, problem.field) == (line, "record.samplers.flag_state.every")

    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario_text(fault, extra=record.replace("flag_state", "flag_stat")), "s.yaml")
    [problem] = err.value.problems
    assert problem.line == line and "no installed package provides sampler 'flag_stat'" in problem.message
    assert "flag_state" in problem.message


def test_a_journey_pack_from_a_package_is_a_valid_load_and_an_unknown_one_is_named(flag_plugin: Path) -> None:
    fault = "    toxic: {proxy: p, type: latency, latency: 1s}\nproxies:\n  p: {upstream: 'web:8000'}"
    text = scenario_text(fault)
    assert parse_scenario(text.replace("builtin:smoke", "pack:flag_admins")).load.journeys == "pack:flag_admins"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text.replace("builtin:smoke", "pack:flag_admin"), "j.yaml")
    [problem] = err.value.problems
    assert problem.field == "load.journeys" and "installed journey packs: flag_admins, smoke, ticketing" in problem.message


# --------------------------------------------------------------------------- faultdrill list
def test_faultdrill_list_shows_every_kind_sampler_and_pack_with_its_fields(flag_plugin: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(flag_plugin), str(ROOT / "src")]))
    as_json = subprocess.run([sys.executable, "-m", "faultdrill", "list", "--json"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    listing = json.loads(as_json.stdout)
    faults = {f["name"]: f for f in listing["faults"]}
    assert set(FAULT_KINDS) | {"flag"} <= set(faults)
    assert faults["flag"]["package"] == "faultdrill-flagflip" and not faults["flag"]["builtin"]
    assert [(f["name"], f["type"], f["required"]) for f in faults["flag"]["fields"]] == [
        ("file", "str", True), ("flag", "str", True), ("value", "bool", True)]
    latency = next(f for f in faults["toxic"]["fields"] if f["name"] == "latency")
    assert latency["type"] == "duration" and not latency["required"]
    samplers = {s["name"]: s for s in listing["samplers"]}
    assert samplers["flag_state"]["default_on"] is False and samplers["resources"]["default_on"] is True
    assert {p["name"]: p["users"] for p in listing["journeys"]}["flag_admins"] == ["Admin"]

    text = subprocess.run([sys.executable, "-m", "faultdrill", "list"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert text.returncode == 0, text.stderr
    assert "flag  — Flip a feature flag in a JSON flags file.  [faultdrill-flagflip 0.3.1]" in text.stdout
    assert "      value: bool (required)" in text.stdout
    assert "flag_admins  — Flag admins toggling flags.  [faultdrill-flagflip 0.3.1; users: Admin]" in text.stdout


# --------------------------------------------------------------------------- the reaper
def test_the_reaper_leaves_a_plugin_fault_pending_for_clean_and_says_so(tmp_path: Path) -> None:
    record_line: dict[str, Any] = {"type": "flag", "key": ["flag", "dark launch"], "fault": "dark launch",
                                   "package": "faultdrill-flagflip", "file": "/x", "flag": "f", "previous": False}
    journal = tmp_path / "journal.jsonl"
    with Journal(journal) as j:
        j.record("apply", record_line)
    session = Session(run_id="r1", said_hello=True, entries=[json.loads(journal.read_text())])
    reaper = Reaper(engine=None, session=session, self_name="reaper")  # type: ignore[arg-type]
    [outcome] = reaper.heal_all()  # the plugin's code is not in the reaper image: it must not touch it
    assert outcome.state == "left for clean" and "faultdrill-flagflip" in outcome.detail
    record = build(session, [outcome], {"containers": ["web"], "networks": [], "volumes": []}, [], None, 3.0)
    assert "left 1 plugin fault for `faultdrill clean` (flag)" in record["summary"]
    (tmp_path / "run.json").write_text(json.dumps({"status": "running"}))
    assert apply_record(tmp_path, record)
    assert pending(journal) == [record_line]  # still open: clean heals it


def test_healing_a_kind_not_installed_here_names_its_package_and_keeps_it_pending(tmp_path: Path) -> None:
    journal = tmp_path / "run1" / "journal.jsonl"
    journal.parent.mkdir()
    with Journal(journal) as j:
        j.record("apply", {"type": "dns_override", "key": ["dns_override", "c1", "m"], "fault": "misresolved",
                           "package": "faultdrill-dns"})
    [healing] = heal_journal(journal)
    assert healing.state == "failed" and healing.what == "dns_override fault 'misresolved'"
    assert "no installed package provides fault kind 'dns_override'" in healing.detail
    assert healing.hint == "install faultdrill-dns (it applied this fault) and run `faultdrill clean` again"
    assert len(pending(journal)) == 1  # the next clean, with the package, heals it


# --------------------------------------------------------------------------- the example extension's shell
def test_the_example_dns_override_edits_a_hosts_file_in_place_and_heals_only_its_own_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "extension" / "src"))
    from faultdrill_dns import hosts

    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n172.18.0.3 web\n")
    mark = hosts.marker("Backend misresolved!")
    other = hosts.marker("another fault")
    for cmd in (hosts.add_line("192.0.2.1", "backend", mark, str(path)),
                hosts.add_line("192.0.2.9", "db", other, str(path))):
        subprocess.run(cmd, check=True)
    assert "192.0.2.1 backend # faultdrill-dns:backend-misresolved\n" in path.read_text()
    inode = path.stat().st_ino
    assert subprocess.run(hosts.remove_line(mark, str(path))).returncode == 0
    assert path.read_text() == "127.0.0.1 localhost\n172.18.0.3 web\n192.0.2.9 db # faultdrill-dns:another-fault\n"
    assert path.stat().st_ino == inode  # edited in place: /etc/hosts is a bind mount that cannot be replaced
    assert subprocess.run(hosts.remove_line(mark, str(path))).returncode == 3  # nothing left: said so
    assert hosts.parse_lookup("backend 192.0.2.1\n\ndb \n") == {"backend": "192.0.2.1", "db": ""}


def test_an_install_from_before_the_plugin_api_is_told_to_reinstall_not_that_every_kind_is_unknown() -> None:
    from faultdrill.plugins.registry import FAULTS, PluginError, Registry

    stale = Registry.discover(entry_points=[])  # faultdrill's metadata without its entry points
    assert "installed before the plugin API; reinstall it (pip install -e ." in stale.unknown(FAULTS, "toxic")
    with pytest.raises(PluginError, match="reinstall it"):
        stale.fault_kind("toxic")


def test_a_kind_named_like_a_faults_own_field_is_refused_not_silently_shadowing_it(tmp_path: Path) -> None:
    from faultdrill.plugins.registry import Registry

    site = install_dist(tmp_path / "site", "faultdrill-odd", "1.0", {"faultdrill.faults": {
        "repeat": "faultdrill.faults.kinds:ToxicKind", "Bad-Name": "faultdrill.faults.kinds:ToxicKind"}})
    points = metadata.Distribution.at(next(site.glob("*.dist-info"))).entry_points
    found = Registry.discover(entry_points=points)
    assert not found.faults and {b.name for b in found.broken} == {"repeat", "Bad-Name"}
    assert all("not a usable name" in b.reason for b in found.broken)
