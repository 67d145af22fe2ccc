"""Reading a scenario's YAML with line numbers, within bounds a hostile or broken file cannot escape.

A scenario is a few kilobytes, a handful of levels deep. Three bounds keep bad input cheap to
refuse, each enforced while reading, before anything large is built:

* :data:`MAX_FILE_BYTES` — the file's size, checked before it is read or parsed;
* :data:`MAX_DEPTH` — how deeply values nest, counting what aliases (``*name``) bring in;
* :data:`MAX_ALIAS_NODES` — how many values aliases add when expanded (nine levels of nine
  aliases would be 387 million).

Every refusal is a :class:`~faultdrill.errors.ScenarioError` (exit 2) naming the line and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from faultdrill.errors import Problem, ScenarioError

Loc = tuple[str | int, ...]

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000


class _Refused(yaml.YAMLError):
    """A bound was crossed while composing; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses, while composing, nesting past :data:`MAX_DEPTH` and alias expansion
    past :data:`MAX_ALIAS_NODES`, and aliases that point into the node they are in (recursion)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        self._shape: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, expanded height)
        self._path: list[str | int] = []  # where the node being composed is, for messages

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        step = index.value if isinstance(index, yaml.ScalarNode) else index
        if isinstance(step, (str, int)):
            self._path.append(step)
        try:
            if self.check_event(yaml.AliasEvent):
                return self._compose_alias(parent, index)
            self._depth += 1
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it bare
                raise _Refused(self._too_deep(event.start_mark.line + 1))
            node = super().compose_node(parent, index)
            assert node is not None  # None only at the stream's end, never asked for a value
            self._depth -= 1
            self._shape[id(node)] = self._measure(node)
            return node
        finally:
            if isinstance(step, (str, int)):
                self._path.pop()

    def _compose_alias(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it bare
        line = event.start_mark.line + 1
        node = super().compose_node(parent, index)  # PyYAML refuses an undefined alias
        assert node is not None
        shape = self._shape.get(id(node))
        if shape is None:
            raise _Refused(Problem(line, self._field(), f"alias *{event.anchor} refers to a value it is part of "
                                             "(a recursive structure)",
                                   "an alias may only repeat a complete value anchored earlier in the file"))
        size, height = shape
        if self._depth + height > MAX_DEPTH:
            raise _Refused(self._too_deep(line, f" once alias *{event.anchor} is expanded"))
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise _Refused(Problem(line, self._field(), f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values "
                                             f"(at alias *{event.anchor}); refusing to expand them",
                                   "fewer or smaller anchors and aliases (&name / *name); write repeated parts out"))
        return node

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        if isinstance(node, yaml.SequenceNode):
            children: Iterable[yaml.Node] = node.value
        elif isinstance(node, yaml.MappingNode):
            children = (part for pair in node.value for part in pair)
        else:
            return 1, 1
        shapes = [self._shape[id(child)] for child in children]
        return 1 + sum(s for s, _ in shapes), 1 + max((h for _, h in shapes), default=0)

    def _field(self) -> str:
        shown = dotted(self._path[:8])
        return shown + "…" if len(self._path) > 8 else shown

    def _too_deep(self, line: int, how: str = "") -> Problem:
        return Problem(line, self._field(), f"values nest more than {MAX_DEPTH} levels deep{how}",
                       "a scenario needs a handful of levels; look for an unclosed [ or { or a runaway indent")




def too_big(size: int, source: str) -> ScenarioError:
    return ScenarioError(source, [Problem(None, "", f"the file is {_mib(size)}; scenario files may be at most "
                                                    f"{_mib(MAX_FILE_BYTES)}",
                                          "is this the right file? A scenario describes a drill in a few "
                                          "kilobytes; keep data (journeys, payloads) in a locustfile")])


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB ({size:,} bytes)"


def read_bounded(path: Path) -> str:
    """The file's text, refusing one over :data:`MAX_FILE_BYTES` before reading it all."""
    with path.open("rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise too_big(max(len(raw), _stat_size(path)), str(path))
    return raw.decode("utf-8")


def _stat_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """The data in ``text`` and the line of every key and item, by location."""
    if len(text) > MAX_FILE_BYTES:
        raise too_big(len(text.encode("utf-8")), source)
    try:
        node, data = _compose_and_construct(text)
    except _Refused as exc:
        raise ScenarioError(source, [exc.problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(source, [Problem(line, "", f"not valid YAML: {exc.problem or exc}",
                                             "check indentation and quoting near this line")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [Problem(None, "", f"not valid YAML: {exc}")]) from None
    if node is None:
        return None, {}
    lines: dict[Loc, int] = {}
    dupes: list[Problem] = []
    _index(node, (), lines, dupes)
    if dupes:
        raise ScenarioError(source, dupes)
    return data, lines


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    loader = BoundedLoader(text)  # the reader may already refuse a character here
    try:
        node = loader.get_single_node()
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], dupes: list[Problem]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            if key in seen:
                dupes.append(Problem(key_node.start_mark.line + 1, dotted(loc + (key,)), "key given twice",
                                     "each key once; remove or merge the duplicate"))
            seen.add(key)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            _index(value_node, loc + (key,), lines, dupes)
            lines[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, loc + (i,), lines, dupes)


def dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
