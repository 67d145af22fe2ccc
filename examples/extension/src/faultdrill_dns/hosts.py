"""The shell commands both the fault and its healing run in a container (pure: they only build argv)."""

from __future__ import annotations

import re
import shlex

HOSTS = "/etc/hosts"  # a bind mount Docker writes: edited in place (sed -i would replace the file and fail)


def marker(fault_name: str) -> str:
    return "faultdrill-dns:" + (re.sub(r"[^a-z0-9]+", "-", fault_name.lower()).strip("-") or "fault")


def add_line(address: str, host: str, mark: str) -> list[str]:
    line = f"{address} {host} # {mark}"
    return ["sh", "-c", f"printf '%s\\n' {shlex.quote(line)} >> {HOSTS}"]


def remove_line(mark: str) -> list[str]:
    """Drop every line carrying the marker; exit 3 if there was none (nothing left to undo)."""
    quoted = shlex.quote("# " + mark)
    return ["sh", "-c", f"grep -qF -- {quoted} {HOSTS} || exit 3; "
                        f"grep -vF -- {quoted} {HOSTS} > /tmp/.fd-hosts; cat /tmp/.fd-hosts > {HOSTS}; "
                        f"rm -f /tmp/.fd-hosts; ! grep -qF -- {quoted} {HOSTS}"]


def lookup(hosts: list[str]) -> list[str]:
    """``getent hosts`` per name (files, then DNS: what the service's own calls see), one line each."""
    names = " ".join(shlex.quote(h) for h in hosts)
    return ["sh", "-c", f"for h in {names}; do printf '%s ' \"$h\"; getent hosts \"$h\" | head -n1 "
                        "| cut -d' ' -f1; echo; done"]


def parse_lookup(output: str) -> dict[str, str]:
    """``host address`` lines (address empty when the name does not resolve) -> {host: address}."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if parts:
            found[parts[0]] = parts[1] if len(parts) > 1 else ""
    return found
