"""What every sampler shares: the errors a sampler raises to tell the recorder something."""

from __future__ import annotations


class SamplerUnavailable(RuntimeError):
    """This sampler cannot measure anything as configured; the message says what to change."""


class PartialSample(Exception):
    """Some rows were measured, some were not: the recorder writes ``rows`` and logs ``cause``."""

    def __init__(self, rows: list[dict[str, object]], cause: BaseException | str) -> None:
        super().__init__(str(cause))
        self.rows = rows
        self.cause: BaseException | None = cause if isinstance(cause, BaseException) else None


def first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def published_url(port: int, path: str, host_ports: dict[int, int], what: str) -> str:
    """The 127.0.0.1 URL of a page a service serves on a published port. Raises SamplerUnavailable
    naming the fix when ``port`` is not published."""
    if port not in host_ports:
        raise SamplerUnavailable(f"{what} port {port} is not published: add it to the service's ports")
    return f"http://127.0.0.1:{host_ports[port]}{path if path.startswith('/') else '/' + path}"
