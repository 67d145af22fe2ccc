"""Compose variable interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}``, ``$VAR`` and ``$$``.

Pure: values come from a mapping (the ``.env`` beside the compose file, overridden by the
process environment, as ``docker compose`` does). Defaults may themselves hold variables.
No maintained library does just this (the compose libraries on PyPI either bundle a whole
abandoned CLI or none of it), so it is written out here against the compose specification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from faultdrill.scenario.yaml_source import Loc

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset, or a ``$`` that opens nothing."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_braced(text[i + 2:end], env))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if match is None:
                out.append("$")  # a lone $ (compose keeps it)
                i += 1
            else:
                out.append(env.get(match.group(0), ""))
                i = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed '${{' in {text!r}; write $$ for a literal $")


def _braced(body: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(body)
    if match is None:
        raise InterpolationError(f"invalid variable ${{{body}}}: a name is letters, digits and _")
    name, rest = match.group(0), body[match.end():]
    value = env.get(name)
    if rest == "":
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            unset = value is None or (op.startswith(":") and value == "")
            kind = op[-1]
            if kind == "-":
                return interpolate(arg, env) if unset else str(value)
            if kind == "?":
                if unset:
                    reason = interpolate(arg, env) or "required"
                    raise InterpolationError(f"variable {name} is {'unset' if value is None else 'empty'}: {reason}")
                return str(value)
            return "" if unset else interpolate(arg, env)
    raise InterpolationError(f"invalid variable ${{{body}}}: after the name comes :-, -, :?, ?, :+ or +")


def interpolate_tree(data: Any, env: Mapping[str, str], loc: Loc = ()) -> tuple[Any, list[tuple[Loc, str]]]:
    """Interpolate every string value (not keys) of a YAML tree; return it and (location, error) pairs."""
    errors: list[tuple[Loc, str]] = []

    def walk(value: Any, here: Loc) -> Any:
        if isinstance(value, str):
            try:
                return interpolate(value, env)
            except InterpolationError as exc:
                errors.append((here, str(exc)))
                return value
        if isinstance(value, dict):
            return {k: (v if str(k).startswith("x-") and not here else walk(v, here + (k,))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, here + (i,)) for i, v in enumerate(value)]
        return value

    return walk(data, loc), errors
