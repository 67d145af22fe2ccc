"""Built-in user journeys, named ``builtin:NAME`` in a scenario's ``load.journeys``.

Importing this package does not import Locust (which monkey-patches with gevent):
the orchestrator reads ``BUILTIN`` to validate names; only the load child loads the classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from locust import User

BUILTIN = {"smoke": "faultdrill.load.journeys.smoke", "ticketing": "faultdrill.load.journeys.ticketing"}


def builtin_user_classes(name: str) -> list[type[User]]:
    if name not in BUILTIN:
        raise ValueError(f"no built-in journeys named {name!r}; known: {', '.join(sorted(BUILTIN))}")
    module = importlib.import_module(BUILTIN[name])
    return list(module.USER_CLASSES)
