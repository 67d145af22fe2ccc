"""Waiting for a service to be ready: explicit timeouts, and the container's logs on failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import requests
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from faultdrill.errors import InfraError
from faultdrill.scenario.model import HealthCheck
from faultdrill.stack.netns import listening_ports, read_sockets


def container_log_tail(container: Container, lines: int = 30) -> str:
    try:
        return container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except (APIError, NotFound):
        return "(no logs: the container is gone)"


def wait_healthy(name: str, container: Container, check: HealthCheck | None,
                 host_ports: dict[int, int], first_port: int | None) -> float:
    """Block until ``check`` passes; return seconds waited. Raises InfraError with the log tail."""
    start = time.monotonic()
    probe = _probe(container, check, host_ports, first_port) if check else (lambda: (True, "running"))
    timeout = check.timeout if check else 10.0
    interval = check.interval if check else 0.2
    reason = "not checked yet"
    while True:
        container.reload()
        state = container.attrs.get("State", {})
        if state.get("Status") in ("exited", "dead"):
            raise _unhealthy(name, container, f"the container exited with code {state.get('ExitCode')}")
        ok, reason = probe()
        if ok and state.get("Running"):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise _unhealthy(name, container, f"not healthy after {timeout:g}s: {reason}")
        time.sleep(interval)


def _probe(container: Container, check: HealthCheck, host_ports: dict[int, int],
           first_port: int | None) -> Callable[[], tuple[bool, str]]:
    if check.http is not None:
        assert first_port is not None  # the model requires a published port
        url = f"http://127.0.0.1:{host_ports[first_port]}{check.http}"

        def http() -> tuple[bool, str]:
            try:
                status = requests.get(url, timeout=2).status_code
            except requests.RequestException as exc:
                return False, f"GET {check.http}: {type(exc).__name__}"
            return status < 400, f"GET {check.http} answered {status}"
        return http
    if check.cmd is not None:
        argv = check.cmd

        def cmd() -> tuple[bool, str]:
            try:
                result = container.exec_run(argv)
            except APIError as exc:
                return False, f"{' '.join(argv)}: {exc.explanation}"
            output = cast(bytes, result.output).decode("utf-8", "replace").strip().splitlines()  # not streamed
            return result.exit_code == 0, f"{' '.join(argv)} exited {result.exit_code} {output[-1:] or ''}"
        return cmd
    port = check.tcp

    def tcp() -> tuple[bool, str]:
        try:
            return port in listening_ports(read_sockets(container)), f"nothing listens on port {port} yet"
        except APIError as exc:
            return False, f"cannot read its sockets: {exc.explanation}"
    return tcp


def _unhealthy(name: str, container: Container, reason: str) -> InfraError:
    return InfraError(
        f"service {name!r} did not become healthy: {reason}\n--- last log lines of {name} ---\n"
        f"{container_log_tail(container)}",
        hint=f"run `faultdrill up SCENARIO` and `docker logs {container.name}` to look closer",
    )
