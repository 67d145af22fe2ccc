"""The shell commands both the fault and its healing run in a container (pure: they only build argv)."""

from __future__ import annotations

import re
import shlex

HOSTS = "/etc/hosts"  # a bind mount Docker writes: edited in place (sed -i would replace the file and fail)


def marker(fault_name: str) -> str:
    return "faultdrill-dns:" + (re.sub(r"[^a-z0-9]+", "-", fault_name.lower()).strip("-") or "fault")


def add_line(address: str, host: str, mark: str, path: str = HOSTS) -> list[str]:
    line = f"{address} {host} # {mark}"
    return ["sh", "-c", f"printf '%s\\n' {shlex.quote(line)} >> {shlex.quote(path)}"]


def remove_line(mark: str, path: str = HOSTS) -> list[str]:
    """Drop every line carrying the marker, in place; exit 3 if there was none (nothing left to undo)."""
    quoted, file, tmp = shlex.quote("# " + mark), shlex.quote(path), shlex.quote(path + ".fd-tmp")
    return ["sh", "-c", f"grep -qF -- {quoted} {file} || exit 3; "
                        f"grep -vF -- {quoted} {file} > {tmp}; cat {tmp} > {file}; "
                        f"rm -f {tmp}; ! grep -qF -- {quoted} {file}"]


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
