"""Shared test setup. In CI (CI=true), tests marked ``docker`` fail when Docker is unreachable; they never skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _keep_module_fixtures_on_one_worker(items)
    _skip_docker_tests_without_an_engine(items)


def _keep_module_fixtures_on_one_worker(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test` runs `--dist loadgroup`), the tests of a module that share a
    module-scoped fixture (a stack, a finished run) go to one worker, so the fixture is made once."""
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures is None:
            continue
        if any(d.scope == "module" for defs in fixtures.name2fixturedefs.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_configure(config: pytest.Config) -> None:
    """Fail, not drift: pytest-xdist's ``--dist loadgroup`` silently stops honouring ``xdist_group`` with
    pytest 9.2 (it can no longer tag the node ids, pytest-xdist issue 1386); the surge drills would then run
    at once and measure each other."""
    if config.getoption("dist", "no") == "loadgroup" and pytest.version_tuple[:2] >= (9, 2):
        raise pytest.UsageError(f"pytest {pytest.__version__} breaks pytest-xdist's --dist loadgroup: use the "
                                "pytest the test extra pins (pip install -e '.[test]')")


def _skip_docker_tests_without_an_engine(items: list[pytest.Item]) -> None:
    if os.environ.get("CI"):
        return
    _skip_hosts(items)
    if not any(item.get_closest_marker("docker") for item in items):
        return
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as exc:
        skip = pytest.mark.skip(reason=f"no Docker engine outside CI ({type(exc).__name__}); CI fails instead")
        for item in items:
            if item.get_closest_marker("docker"):
                item.add_marker(skip)


def _skip_hosts(items: list[pytest.Item]) -> None:
    """``hosts`` tests (workers in their own network namespaces) need root, ip(8) and faketime."""
    import shutil

    missing = [tool for tool in ("ip", "faketime") if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root")
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs {', '.join(missing)} outside CI (scripts/ensure-test-tools.sh); CI fails")
    for item in items:
        if item.get_closest_marker("hosts"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def base_image() -> str:
    """The base image every test image builds on (made by debootstrap where nothing can be pulled)."""
    import docker
    from faultdrill.stack.images import ensure_base

    return ensure_base(docker.from_env(timeout=600), print)


@pytest.fixture
def example_extension(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """examples/extension installed for this test (its entry points on sys.path, as pip would put them):
    the bundled scenarios/extension-*.yaml need it."""
    from faultdrill.plugins.registry import registry
    from tests.plugin_dist import install_example

    for path in install_example(tmp_path_factory.mktemp("site")):
        monkeypatch.syspath_prepend(str(path))
    registry.cache_clear()
    yield
    registry.cache_clear()
