"""Shared test setup. In CI (CI=true), tests marked ``docker`` fail when Docker is unreachable; they never skip."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
