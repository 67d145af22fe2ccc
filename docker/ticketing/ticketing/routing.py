"""URL routing: (method, path) -> (route template, handler name, params). Pure."""

from __future__ import annotations

import re
from typing import NamedTuple

ROUTES: tuple[tuple[str, str, str], ...] = (
    # (method, template, handler)
    ("GET", "/", "index"),
    ("GET", "/healthz", "healthz"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/events", "list_events"),
    ("GET", "/events/{id}", "get_event"),
    ("POST", "/events/{id}/entries", "create_entry"),
    ("GET", "/events/{id}/entries/{entry_id}", "get_entry"),
    ("POST", "/signup", "signup"),
    ("POST", "/admin/resend-verifications", "resend_verifications"),
    ("POST", "/admin/reset", "reset"),
)


class Match(NamedTuple):
    route: str          # the template, used as the metrics label ("other" when unknown)
    handler: str | None  # None: no such route, or method not allowed
    params: dict[str, int]
    allowed: tuple[str, ...] = ()


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[0-9]{1,18})", template) + "$")


_COMPILED = tuple((m, t, h, _compile(t)) for m, t, h in ROUTES)


def match(method: str, path: str) -> Match:
    if len(path) > 1:
        path = path.rstrip("/")
    allowed: list[str] = []
    template = None
    for route_method, route_template, handler, pattern in _COMPILED:
        found = pattern.match(path)
        if found is None:
            continue
        template = route_template
        if route_method == method or (method == "HEAD" and route_method == "GET"):
            return Match(route_template, handler, {k: int(v) for k, v in found.groupdict().items()})
        allowed.append(route_method)
    if template is None:
        return Match("other", None, {})
    return Match(template, None, {}, tuple(allowed))
