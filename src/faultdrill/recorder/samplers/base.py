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
