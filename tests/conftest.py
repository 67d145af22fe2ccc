"""Shared test setup. In CI (CI=true), tests marked ``docker`` fail when Docker is unreachable; they never skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CI"):
        return
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
