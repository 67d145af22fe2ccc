"""A drill must never load production by mistake: targets are local unless explicitly allowed."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def host_problem(url: str, allow_hosts: list[str]) -> str | None:
    """Return why ``url`` may not be loaded, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    host = parts.hostname
    if host in LOCAL_NAMES or host in allow_hosts:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return f"refusing to send load to {host!r}: not loopback and not in load.allow_hosts"
