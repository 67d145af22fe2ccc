"""Journey packs: modules of Locust users, named ``pack:NAME`` (or ``builtin:NAME``) in ``load.journeys``.

A pack is registered under the ``faultdrill.journeys`` entry-point group (faultdrill's own ``smoke``
and ``ticketing`` too) as the module's dotted path; the module lists its users in ``USER_CLASSES``.
Importing this package does not import Locust (which monkey-patches with gevent): the orchestrator
validates names against the registry without importing the modules; only the load child does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from locust import User

PREFIXES = ("pack:", "builtin:")  # builtin: is the older spelling; both name any installed pack


def pack_name(journeys: str) -> str | None:
    """The pack a ``load.journeys`` value names, or None for a locustfile path."""
    for prefix in PREFIXES:
        if journeys.startswith(prefix):
            return journeys.removeprefix(prefix)
    return None


def pack_user_classes(name: str) -> list[type[User]]:
    from faultdrill.plugins.registry import registry

    module = importlib.import_module(registry().journey_module(name))
    classes = list(getattr(module, "USER_CLASSES", []))
    if not classes:
        raise ValueError(f"journey pack {name!r} ({module.__name__}) lists no USER_CLASSES")
    return classes

