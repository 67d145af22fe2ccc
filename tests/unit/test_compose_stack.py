"""A compose file as the stack: interpolation, .env, translation, unsupported keys by line, transparent proxies."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from faultdrill.errors import ScenarioError
from faultdrill.scenario import transparent
from faultdrill.scenario.compose_interpolate import InterpolationError, interpolate
from faultdrill.scenario.compose_translate import memory_bytes
from faultdrill.scenario.loader import load_scenario, parse_scenario
from faultdrill.stack.plan import proxy_listen_ports

ROOT = Path(__file__).resolve().parents[2]

COMPOSE = """\
services:
  app:
    build: ./app
    command: ["python3", "app.py"]
    environment:
      DATABASE_URL: postgres://db:5432/${DB_NAME:-shop}
      MODE: ${MODE-fallback}
      PRICE: "$$5"
    env_file: app.env
    ports: ["127.0.0.1:8080:8000", "9000"]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 256M, pids: 64}
    restart: unless-stopped
    volumes:
      - ./static:/srv/static:ro
      - data:/var/data
    networks:
      backend:
        aliases: [web]
  migrate:
    image: shop/migrate:1
    entrypoint: ["/bin/sh", "-c"]
    command: ["migrate up"]
    networks: [backend]
  db:
    image: postgres:16
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app"]
      interval: 2s
      timeout: 3s
      retries: 5
    networks: [backend]
  debug:
    image: busybox
    profiles: [debug]
    networks: [backend]
volumes:
  data:
  keep: {external: true}
networks:
  backend: {}
"""


def project(tmp_path: Path, compose: str = COMPOSE, scenario_stack: str = "{compose: docker-compose.yml}",
            extra: str = "", env: str | None = "DB_NAME=orders\n") -> Path:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.env").write_text("FROM_FILE=1\nMODE=from-env-file\n")
    (tmp_path / "docker-compose.yml").write_text(compose)
    if env is not None:
        (tmp_path / ".env").write_text(env)
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(f"name: t\nstack: {scenario_stack}\n{extra}" + textwrap.dedent("""\
        load:
          journeys: builtin:smoke
          host: ${service.app.url}
          shape: [{until: 10s, users: 1}]
        """))
    return scenario


@pytest.fixture(autouse=True)
def _no_host_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DB_NAME", "MODE", "SHOP_PORT"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- interpolation
@pytest.mark.parametrize("text, env, expected", [
    ("${A}", {"A": "x"}, "x"),
    ("${A}", {}, ""),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A-d}", {}, "d"),
    ("${A:-${B:-inner}}", {}, "inner"),
    ("$$A and $$$${B}", {"A": "no"}, "$A and $${B}"),
    ("$A/x", {"A": "v"}, "v/x"),
    ("${A:+set}", {"A": "1"}, "set"),
    ("${A:+set}", {}, ""),
    ("100$", {}, "100$"),
])
def test_interpolation_follows_the_compose_rules(text: str, env: dict, expected: str) -> None:
    assert interpolate(text, env) == expected


def test_a_required_variable_that_is_unset_is_an_error_with_its_message() -> None:
    with pytest.raises(InterpolationError, match="DB_PASSWORD is unset: set the password"):
        interpolate("${DB_PASSWORD:?set the password}", {})
    with pytest.raises(InterpolationError, match="unclosed"):
        interpolate("${A", {})


def test_dotenv_beside_the_compose_file_is_read_and_the_shell_environment_wins(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    stack = load_scenario(project(tmp_path)).scenario.stack
    assert stack.services["app"].env["DATABASE_URL"] == "postgres://db:5432/orders"
    monkeypatch.setenv("DB_NAME", "from-shell")
    stack = load_scenario(project(tmp_path)).scenario.stack
    assert stack.services["app"].env["DATABASE_URL"] == "postgres://db:5432/from-shell"


def test_an_unset_required_variable_is_named_with_its_line(tmp_path: Path) -> None:
    compose = COMPOSE.replace("${MODE-fallback}", "${MODE:?MODE must be set}")
    with pytest.raises(ScenarioError) as err:
        load_scenario(project(tmp_path, compose))
    assert "docker-compose.yml:7: services.app.environment.MODE" in str(err.value)
    assert "MODE must be set" in str(err.value)


# --------------------------------------------------------------------------- translation
def test_the_compose_services_become_the_stack(tmp_path: Path) -> None:
    stack = load_scenario(project(tmp_path)).scenario.stack
    assert list(stack.services) == ["app", "migrate", "db"]  # debug is behind a profile
    app = stack.services["app"]
    assert app.build == str((tmp_path / "app").resolve())
    assert app.command == ["python3", "app.py"]
    assert app.env["MODE"] == "fallback" and app.env["PRICE"] == "$5" and app.env["FROM_FILE"] == "1"
    assert app.ports == [8000, 9000]
    assert (app.cpus, app.mem_limit, app.pids_limit) == (0.5, str(256 * 1024 * 1024), 64)
    assert app.aliases == ["web"]
    assert app.depends_on == ["db", "migrate"]
    assert app.docker is not None and app.docker.restart == "unless-stopped"
    mounts = {m.target: m for m in app.docker.volumes}
    assert mounts["/srv/static"].type == "bind" and mounts["/srv/static"].read_only
    assert mounts["/srv/static"].source == str((tmp_path / "static").resolve())
    assert mounts["/var/data"].type == "volume" and mounts["/var/data"].source == "data"
    assert stack.volumes["data"].external is False and stack.volumes["keep"].external is True
    assert stack.transparent is True and stack.source == str((tmp_path / "docker-compose.yml").resolve())


def test_depends_on_conditions_and_healthchecks_are_honoured(tmp_path: Path) -> None:
    stack = load_scenario(project(tmp_path)).scenario.stack
    db = stack.services["db"]
    assert db.health is not None and db.health.cmd == ["/bin/sh", "-c", "pg_isready -U app"]
    assert db.health.interval == 1.0 and db.health.timeout >= 60  # probed often, given compose's budget
    migrate = stack.services["migrate"]
    assert migrate.docker is not None and migrate.docker.completes  # service_completed_successfully
    assert migrate.docker.entrypoint == ["/bin/sh", "-c"]
    assert stack.services["db"].docker is None or not stack.services["db"].docker.completes


def test_waiting_for_health_of_a_service_without_a_healthcheck_is_refused(tmp_path: Path) -> None:
    compose = COMPOSE.replace("migrate: {condition: service_completed_successfully}", "migrate: {condition: service_healthy}")
    with pytest.raises(ScenarioError, match=r"docker-compose.yml:13: services.app.depends_on.migrate: waits for "
                                            r"'migrate' to be healthy, but 'migrate' has no healthcheck"):
        load_scenario(project(tmp_path, compose))


@pytest.mark.parametrize("insert, line, field", [
    ("    secrets: [token]\n", 4, "services.app.secrets"),
    ("    extends: {service: base}\n", 4, "services.app.extends"),
    ("    network_mode: host\n", 4, "services.app.network_mode"),
])
def test_an_unsupported_key_is_named_by_file_line_and_key(tmp_path: Path, insert: str, line: int, field: str) -> None:
    compose = COMPOSE.replace("    build: ./app\n", "    build: ./app\n" + insert)
    with pytest.raises(ScenarioError) as err:
        load_scenario(project(tmp_path, compose))
    text = str(err.value)
    assert f"docker-compose.yml:{line}: {field}: " in text and "not supported by faultdrill" in text
    assert err.value.exit_code == 2


def test_top_level_secrets_and_required_false_are_refused(tmp_path: Path) -> None:
    compose = COMPOSE.replace("db: {condition: service_healthy}", "db: {condition: service_healthy, required: false}")
    compose += "secrets:\n  token: {file: ./token.txt}\n"
    with pytest.raises(ScenarioError) as err:
        load_scenario(project(tmp_path, compose))
    text = str(err.value)
    assert "services.app.depends_on.db.required: depends_on.required: false is not supported" in text
    assert "top-level 'secrets' is not supported" in text


def test_several_networks_are_refused_with_what_to_do(tmp_path: Path) -> None:
    compose = COMPOSE.replace("    networks: [backend]\n  debug", "    networks: [frontend]\n  debug")
    compose += "  frontend: {}\n"
    with pytest.raises(ScenarioError, match=r"use 2 networks .*one network"):
        load_scenario(project(tmp_path, compose))


def test_schema_errors_are_named_by_line(tmp_path: Path) -> None:
    compose = COMPOSE.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    ports_typo: 1\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(project(tmp_path, compose))
    assert "docker-compose.yml:18: services.app.ports_typo: unknown key" in str(err.value)


def test_a_subset_takes_its_dependencies_and_profiles_enable_services(tmp_path: Path) -> None:
    stack = load_scenario(project(tmp_path, scenario_stack="{compose: docker-compose.yml, services: [app]}")).scenario.stack
    assert set(stack.services) == {"app", "db", "migrate"}
    scenario = project(tmp_path, scenario_stack="{compose: docker-compose.yml, profiles: [debug]}")
    assert "debug" in load_scenario(scenario).scenario.stack.services
    with pytest.raises(ScenarioError, match=r"stack\.services\[0\]: no service 'nope'"):
        load_scenario(project(tmp_path, scenario_stack="{compose: docker-compose.yml, services: [nope]}"))


def test_override_changes_and_removes_keys_for_the_drill(tmp_path: Path) -> None:
    compose = COMPOSE.replace("    build: ./app\n", "    build: ./app\n    secrets: [token]\n")
    stack_spec = ("{compose: docker-compose.yml, override: {services: {app: {secrets: null, pids_limit: 32, "
                  "deploy: null, environment: {MODE: drill}}}}}")
    app = load_scenario(project(tmp_path, compose, stack_spec)).scenario.stack.services["app"]
    assert app.pids_limit == 32 and app.env["MODE"] == "drill"


def test_memory_sizes() -> None:
    assert memory_bytes("256M") == 256 * 1024**2
    assert memory_bytes("1.5g") == int(1.5 * 1024**3)
    assert memory_bytes("512mb") == 512 * 1024**2
    assert memory_bytes(1000) == 1000
    assert memory_bytes("lots") is None


# --------------------------------------------------------------------------- transparent proxies
def test_a_transparent_proxy_takes_the_upstreams_name_and_port(tmp_path: Path) -> None:
    extra = 'proxies:\n  db: {upstream: "db:5432"}\n'
    scenario = load_scenario(project(tmp_path, extra=extra)).scenario
    assert transparent.toxiproxy_aliases(scenario) == ["db"]
    assert transparent.service_aliases(scenario, "db") == ["fd-direct-db"]
    assert transparent.service_aliases(scenario, "app") == ["app", "web"]
    assert transparent.upstream(scenario, "db") == "fd-direct-db:5432"
    assert proxy_listen_ports(scenario) == {"db": 5432}
    wire = transparent.wiring(scenario, proxy_listen_ports(scenario), "toxiproxy")[0]
    assert (wire.address, wire.clients) == ("db:5432", ("app",))
    # the app's config is as written
    assert scenario.stack.services["app"].env["DATABASE_URL"] == "postgres://db:5432/orders"


def test_transparent_is_opt_in_for_the_built_in_stack_and_off_per_proxy(tmp_path: Path) -> None:
    builtin = load_scenario(ROOT / "scenarios" / "smoke.yaml").scenario
    assert not transparent.is_transparent(builtin, "backend")
    assert transparent.service_aliases(builtin, "backend") == ["backend"]
    extra = 'proxies:\n  db: {upstream: "db:5432", transparent: false}\n'
    scenario = load_scenario(project(tmp_path, extra=extra)).scenario
    assert transparent.toxiproxy_aliases(scenario) == [] and proxy_listen_ports(scenario) == {"db": 20000}


def test_two_transparent_proxies_on_one_port_are_refused(tmp_path: Path) -> None:
    compose = COMPOSE.replace("  debug:\n", "  replica:\n    image: postgres:16\n    networks: [backend]\n  debug:\n")
    extra = 'proxies:\n  db: {upstream: "db:5432"}\n  replica: {upstream: "replica:5432"}\n'
    with pytest.raises(ScenarioError, match=re.escape("proxies.replica.upstream: proxy 'db' already listens on port 5432")):
        load_scenario(project(tmp_path, compose, extra=extra))


def test_the_compose_shop_drill_validates() -> None:
    loaded = load_scenario(ROOT / "scenarios" / "compose-shop.yaml")
    assert set(loaded.scenario.stack.services) == {"api", "worker", "cache", "queue"}
    assert transparent.toxiproxy_aliases(loaded.scenario) == ["cache", "queue"]


def test_the_scenario_as_run_parses_back(tmp_path: Path) -> None:
    from faultdrill.recorder.scenario_copy import scenario_as_run

    loaded = load_scenario(ROOT / "scenarios" / "compose-shop.yaml")
    again = parse_scenario(scenario_as_run(loaded), "copy.yaml", base_dir=loaded.base_dir)
    assert again.stack == loaded.scenario.stack


def test_a_proxy_fault_that_repoints_to_a_taken_name_dials_the_service_directly(tmp_path: Path) -> None:
    from faultdrill.faults.actions import action_for
    from faultdrill.toxiproxy.client import ToxiproxyClient

    extra = ('proxies:\n  db: {upstream: "db:5432"}\n  app: {upstream: "app:8000", transparent: false}\n'
             'faults:\n  - {name: swap, at: 1s, for: 2s, proxy: {proxy: app, action: upstream, upstream: "db:5432"}}\n')
    scenario = load_scenario(project(tmp_path, extra=extra)).scenario
    assert transparent.dial(scenario, "db:5432") == "fd-direct-db:5432"
    assert transparent.dial(scenario, "app:8000") == "app:8000"
    action = action_for(scenario.faults[0], scenario, ToxiproxyClient("http://127.0.0.1:9"), {})
    assert action.spec.upstream == "fd-direct-db:5432"  # type: ignore[union-attr]


def test_a_literal_dollar_brace_is_refused_by_line_not_misread(tmp_path: Path) -> None:
    compose = COMPOSE.replace('PRICE: "$$5"', 'PRICE: "$${HOME}"')
    with pytest.raises(ScenarioError, match=r"docker-compose.yml:8: services.app.environment.PRICE: .*literal"):
        load_scenario(project(tmp_path, compose))


def test_a_service_name_faultdrill_cannot_use_is_named_by_line(tmp_path: Path) -> None:
    compose = COMPOSE.replace("  db:\n", "  DB.primary:\n").replace("db: {condition", "DB.primary: {condition")
    with pytest.raises(ScenarioError, match=r"docker-compose.yml:\d+: services.DB.primary: service name 'DB.primary'"):
        load_scenario(project(tmp_path, compose))


def test_the_reports_provenance_shows_the_proxy_wiring() -> None:
    from faultdrill.report.html import provenance

    run_info = {"stack": {"source": "/x/docker-compose.yml", "wiring": [
        {"proxy": "queue", "transparent": True, "address": "queue:6379", "upstream": "fd-direct-queue:6379",
         "service": "queue", "clients": ["api", "worker"]}]}}
    rows = dict(provenance(run_info))
    assert rows["proxies"] == "api, worker → queue:6379 (proxy queue, transparent) → queue"
    assert rows["compose file"] == "/x/docker-compose.yml"


def test_the_built_in_stack_opts_in_to_transparent_proxies() -> None:
    text = (ROOT / "scenarios" / "smoke.yaml").read_text().replace("stack:\n  services:\n",
                                                                   "stack:\n  transparent: true\n  services:\n", 1)
    scenario = parse_scenario(text, "smoke.yaml", base_dir=ROOT / "scenarios")
    assert transparent.toxiproxy_aliases(scenario) == ["backend"]
    assert transparent.service_aliases(scenario, "backend") == ["fd-direct-backend"]
    assert proxy_listen_ports(scenario) == {"backend": 8000}
