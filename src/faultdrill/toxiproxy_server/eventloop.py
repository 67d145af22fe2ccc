"""Which event loop the server runs on: uvloop when it is installed, else asyncio's own.

uvloop (libuv under asyncio's API) moves bytes between sockets two to three times faster than the
standard selector loop, which is what lets one process keep up with a spike of a thousand
connections. It is optional: ``FAULTDRILL_TOXIPROXY_LOOP=asyncio`` forces the standard loop (and
``uvloop`` requires it, failing loudly when it is missing); the choice is logged at start-up.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_name", "run"]

T = TypeVar("T")
ENV = "FAULTDRILL_TOXIPROXY_LOOP"


def _factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "uvloop", "asyncio"):
        raise SystemExit(f"{ENV}={wanted!r}: expected auto, uvloop or asyncio")
    if wanted == "asyncio" or sys.version_info < (3, 11):
        return "asyncio", None
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        if wanted == "uvloop":
            raise SystemExit(f"{ENV}=uvloop but uvloop is not installed (pip install uvloop)") from None
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


def loop_name() -> str:
    return _factory()[0]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    _, factory = _factory()
    if factory is None:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=factory) as runner:  # type: ignore[attr-defined,unused-ignore]
        result: T = runner.run(coro)
        return result
