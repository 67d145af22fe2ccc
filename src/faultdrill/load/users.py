"""User classes as the load child runs them: loaded, split by client profile, and made tidy.

Every user class (built-in or from a plain locustfile, unchanged) is wrapped in a subclass per
client profile. The subclass:

* carries the profile (``_fd_profile``) into every request's context, so results split by profile;
* gets the profile's TLS settings (FastHttpUser: ``ssl_context_factory``; HttpUser: a requests
  adapter mounted on its session);
* closes its connections when the user stops (the client's pool, and any socket the user opened
  that is still open), so a falling user count is a falling connection count at the target;
* takes the scenario's ``weights`` and ``think_time`` overrides and the request timeout.

Only the load child imports this module (it imports Locust).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from locust import User, between
from locust.user.task import TaskSet

from faultdrill.histograms import DEFAULT_PROFILE
from faultdrill.load.netcount import ConnTracker
from faultdrill.load.tls import TlsSettings, context_factory, requests_adapter

log = logging.getLogger("faultdrill.load")


@dataclass(frozen=True)
class ProfileSpec:
    name: str
    share: float
    tls: TlsSettings | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProfileSpec:
        return cls(data["name"], float(data["share"]), TlsSettings.from_json(data.get("tls")))


DEFAULT = ProfileSpec(DEFAULT_PROFILE, 1.0)


def load_user_classes(journeys: str) -> list[type[User]]:
    """``builtin:NAME`` or a locustfile path, loaded the way ``locust -f`` loads it."""
    if journeys.startswith("builtin:"):
        from faultdrill.load.journeys import builtin_user_classes

        return builtin_user_classes(journeys.removeprefix("builtin:"))
    from locust.util.load_locustfile import load_locustfile

    loaded = load_locustfile(journeys)  # (users, shapes) in Locust 2.2x+; (doc, users, shapes) before
    found = loaded[-2]
    classes = list(found.values())
    if not classes:
        raise ValueError(f"{journeys} defines no User classes")
    return classes


class _Tidy:
    """Mixed in before the user's own class (see ``profiled_classes``)."""

    _fd_profile: str = DEFAULT_PROFILE
    _fd_tls: TlsSettings | None = None
    _fd_tracker: ConnTracker | None = None
    _fd_owns_pool: bool = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)  # type: ignore[call-arg]
        client = getattr(self, "client", None)
        if self._fd_tls is not None and client is not None and hasattr(client, "mount"):
            client.mount("https://", requests_adapter(self._fd_tls))  # HttpUser (requests.Session)

    def context(self) -> dict[str, Any]:
        return {**super().context(), "fd_profile": self._fd_profile}  # type: ignore[misc]

    def run(self) -> None:
        tracker = self._fd_tracker
        current = gevent.getcurrent()
        if tracker is not None:
            tracker.bind(current, self)
        try:
            super().run()  # type: ignore[misc]
        finally:
            self.fd_close()
            if tracker is not None:
                tracker.unbind(current)

    def fd_close(self) -> int:
        """Close the user's connections; returns how many sockets were still open."""
        if not self._fd_owns_pool:
            return 0  # a pool shared between users (class-level client_pool) is not ours to close
        client = getattr(self, "client", None)
        inner = getattr(client, "client", None)  # FastHttpSession -> LocustUserAgent
        for closable in (inner, client):
            close = getattr(closable, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    log.debug("closing %r failed: %s", closable, exc)
        return self._fd_tracker.close_owner(self) if self._fd_tracker is not None else 0


def profiled_classes(classes: list[type[User]], profiles: list[ProfileSpec], tracker: ConnTracker | None, *,
                     weights: dict[str, float] | None = None, think_time: tuple[float, float] | None = None,
                     request_timeout: float | None = None, host: str | None = None) -> list[type[User]]:
    """One subclass per (user class, profile); the profile's share scales the class's weight."""
    weights = weights or {}
    unknown = set(weights) - {cls.__name__ for cls in classes}
    if unknown:
        raise ValueError(f"weights name unknown user classes {sorted(unknown)}; "
                         f"known: {sorted(cls.__name__ for cls in classes)}")
    profiles = profiles or [DEFAULT]
    named = len(profiles) > 1 or profiles[0].name != DEFAULT_PROFILE
    out: list[type[User]] = []
    for cls in classes:
        base_weight = float(weights.get(cls.__name__, getattr(cls, "weight", 1) or 1))
        for profile in profiles:
            attrs: dict[str, Any] = {
                "abstract": False, "__module__": cls.__module__, "__doc__": cls.__doc__,
                "weight": base_weight * profile.share, "_fd_profile": profile.name, "_fd_tls": profile.tls,
                "_fd_tracker": tracker, "_fd_owns_pool": getattr(cls, "client_pool", None) is None,
            }
            if host and not getattr(cls, "host", None):
                attrs["host"] = host
            if getattr(cls, "fixed_count", 0):
                attrs["fixed_count"] = max(round(cls.fixed_count * profile.share), 0)
            if think_time is not None:
                attrs["wait_time"] = between(*think_time)
            if request_timeout is not None and hasattr(cls, "network_timeout"):
                attrs["network_timeout"] = request_timeout
                attrs["connection_timeout"] = request_timeout
            if hasattr(cls, "ssl_context_factory") and (profile.tls is not None or _default_factory(cls)):
                # one context per (class, profile), shared by its users (see tls.context_factory)
                settings = profile.tls or (None if getattr(cls, "insecure", True) else TlsSettings(verify=True))
                attrs["ssl_context_factory"] = staticmethod(context_factory(settings))
            name = f"{cls.__name__}@{profile.name}" if named else cls.__name__
            meta: Callable[..., type[User]] = type(cls)  # Locust's metaclass makes the subclass
            out.append(meta(name, (_Tidy, cls), attrs))
    return out


def _default_factory(cls: type[User]) -> bool:
    """The class keeps FastHttpUser's own factory (a new context per user), not one of its author's."""
    from locust.contrib.fasthttp import FastHttpUser

    return getattr(cls, "ssl_context_factory", None) is getattr(FastHttpUser, "ssl_context_factory", None)


def task_functions(cls: type[User]) -> list[Any]:
    """The class's tasks, repeated by weight (Locust's own expansion), for the open model.

    The open model starts one task per arrival; TaskSets (which loop on their own) cannot be started
    that way, so a class made of TaskSets is refused with a message that says so.
    """
    tasks = list(getattr(cls, "tasks", []) or [])
    if not tasks:
        raise ValueError(f"user class {cls.__name__} has no tasks")
    sets = [t for t in tasks if isinstance(t, type) and issubclass(t, TaskSet)]
    if sets:
        raise ValueError(f"open mode starts one @task per arrival; {cls.__name__} uses TaskSet "
                         f"{sets[0].__name__}, which loops by itself. Use @task methods on the User, "
                         "or mode: closed")
    return tasks
