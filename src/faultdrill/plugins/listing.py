"""What ``faultdrill list`` shows: every installed fault kind, sampler kind and journey pack, with the
fields a scenario may write for it (read from its pydantic model) — pure over a :class:`Registry`.

Journey modules are not imported (they import Locust): their docstring and ``USER_CLASSES`` are read
from the source.
"""

from __future__ import annotations

import ast
import importlib.util
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from faultdrill.plugins.api import API_VERSION
from faultdrill.plugins.registry import Entry, Registry


def describe(found: Registry) -> dict[str, Any]:
    """JSON-able: ``{api_version, faults, samplers, journeys, broken}``, each entry with its package."""
    return {
        "api_version": API_VERSION,
        "faults": [{**_origin(e), "summary": e.obj.summary(), "fields": model_fields(e.obj.spec_model)}
                   for e in found.faults.values()],
        "samplers": [{**_origin(e), "summary": e.obj.summary(), "default_on": e.obj.default_on,
                      "options": model_fields(e.obj.options_model)} for e in found.samplers.values()],
        "journeys": [{**_origin(e), "module": e.value, **_journey_source(e.value)} for e in found.journeys.values()],
        "broken": [{"group": b.group, "name": b.name, "package": b.package, "reason": b.reason} for b in found.broken],
    }


def _origin(entry: Entry) -> dict[str, Any]:
    return {"name": entry.name, "package": entry.package, "version": entry.version, "builtin": entry.builtin}


def model_fields(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Each field as a scenario writes it: name (its alias), type, required, default, description."""
    out = []
    for name, info in model.model_fields.items():
        required = info.is_required()
        out.append({"name": info.alias or name, "type": type_name(info.annotation, info), "required": required,
                    "default": None if required else _default(info), "description": info.description or ""})
    return out


def _default(info: FieldInfo) -> Any:
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else repr(value)


def type_name(annotation: Any, info: FieldInfo | None = None) -> str:
    """``duration``, ``int``, ``latency|bandwidth``, ``list[str]``, ``{…}`` for a model (pure)."""
    metadata = list(info.metadata) if info is not None else []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return "duration" if _is_duration(extra) else type_name(base)
    if _is_duration(metadata):
        return "duration"
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return "|".join(type_name(a) for a in args)
    if origin in (list, tuple, set):
        return f"list[{', '.join(type_name(a) for a in typing.get_args(annotation)[:1])}]"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"map[{type_name(key)}, {type_name(value)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "{" + ", ".join(f"{f['name']}" for f in model_fields(annotation)) + "}"
    return getattr(annotation, "__name__", str(annotation))


def _is_duration(metadata: list[Any]) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") == "parse_duration" for m in metadata)


def _journey_source(module: str) -> dict[str, Any]:
    """The module's first docstring line and the names in its ``USER_CLASSES``, from its source."""
    try:
        spec = importlib.util.find_spec(module)
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else None
    except (ImportError, OSError, ValueError) as exc:
        return {"summary": "", "users": [], "error": f"cannot read its source: {exc}"}
    if source is None:
        return {"summary": "", "users": [], "error": "module not found"}
    tree = ast.parse(source)
    users: list[str] = []
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple))
                and any(isinstance(t, ast.Name) and t.id == "USER_CLASSES" for t in node.targets)):
            users = [ast.unparse(e) for e in node.value.elts]
    doc = " ".join((ast.get_docstring(tree) or "").strip().split("\n\n")[0].split())
    return {"summary": doc, "users": users}


def render(listing: dict[str, Any]) -> str:
    """The text ``faultdrill list`` prints: one block per thing, its fields indented under it."""
    lines = [f"faultdrill plugin API {listing['api_version']}", "", "fault kinds (faults[].<kind>: {...}):"]
    for kind in listing["faults"]:
        lines.append(f"  {kind['name']}  — {kind['summary']}  [{_from(kind)}]")
        lines += _field_lines(kind["fields"])
    lines += ["", "samplers (on by default unless record.<name>: false; others under record.samplers.<name>):"]
    for sampler in listing["samplers"]:
        on = "on by default" if sampler["default_on"] else "opt-in"
        lines.append(f"  {sampler['name']}  — {sampler['summary']}  [{_from(sampler)}; {on}]")
        lines += _field_lines(sampler["options"])
    lines += ["", "journey packs (load.journeys: pack:<name>):"]
    for pack in listing["journeys"]:
        users = ", ".join(pack["users"]) or "?"
        lines.append(f"  {pack['name']}  — {pack['summary']}  [{_from(pack)}; users: {users}]")
    if listing["broken"]:
        lines += ["", "installed but unusable:"]
        lines += [f"  {b['group']} {b['name']!r} from {b['package']}: {b['reason']}" for b in listing["broken"]]
    return "\n".join(lines)


def _from(entry: dict[str, Any]) -> str:
    return "built-in" if entry["builtin"] else f"{entry['package']} {entry['version']}"


def _field_lines(fields: list[dict[str, Any]]) -> list[str]:
    out = []
    for f in fields:
        need = "required" if f["required"] else f"default {f['default']!r}" if f["default"] is not None else "optional"
        text = f"      {f['name']}: {f['type']} ({need})"
        out.append(text + (f" — {f['description']}" if f["description"] else ""))
    return out
