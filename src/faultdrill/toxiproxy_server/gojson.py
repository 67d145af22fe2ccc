"""JSON the way Toxiproxy's Go code reads and writes it.

Toxiproxy decodes request bodies with ``json.Decoder.Decode`` (first value only,
trailing bytes ignored, case-insensitive field names, ``null`` leaves a field
unchanged) and encodes responses with ``json.Marshal`` (compact, HTML-escaped,
float32 in shortest form).  This module reproduces the parts clients can see.
"""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal
from typing import Any

__all__ = [
    "GoJSONError",
    "as_bool",
    "as_float32",
    "as_int",
    "as_string",
    "decode_first_value",
    "dumps",
    "field_value",
    "float32",
    "format_float32",
    "kind_of",
]

_INT_RANGES = {"int64": (-(2**63), 2**63 - 1), "int": (-(2**63), 2**63 - 1)}
_FLOAT32_MAX = 3.4028234663852886e38
_GO_WHITESPACE = " \t\r\n"


class GoJSONError(ValueError):
    """A decoding error, worded like Go's encoding/json."""


class _FloatLiteral(float):
    """A JSON number that was not an integer literal; remembers its text."""

    literal: str

    def __new__(cls, text: str) -> _FloatLiteral:
        obj = super().__new__(cls, text)
        obj.literal = text
        return obj


def _reject_constant(name: str) -> Any:
    raise GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(parse_float=_FloatLiteral, parse_constant=_reject_constant)


def decode_first_value(body: bytes) -> Any:
    """Decode the first JSON value of ``body``; anything after it is ignored."""
    text = body.decode("utf-8", errors="replace")
    index = 0
    while index < len(text) and text[index] in _GO_WHITESPACE:
        index += 1
    if index == len(text):
        raise GoJSONError("EOF")
    try:
        value, _end = _DECODER.raw_decode(text, index)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip(_GO_WHITESPACE)):
            raise GoJSONError("unexpected EOF") from None
        raise GoJSONError(f"invalid character {text[exc.pos]!r} {_context(exc.msg)}") from None
    return value


def _context(python_message: str) -> str:
    if "property name" in python_message:
        return "looking for beginning of object key string"
    if "delimiter" in python_message:
        return "after object key:value pair"
    return "looking for beginning of value"


def kind_of(value: Any) -> str:
    """Go's name for the JSON type of ``value`` in UnmarshalTypeError messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _type_error(value: Any, field: str, go_type: str, *, literal: bool = False) -> GoJSONError:
    kind = kind_of(value)
    if literal and kind == "number":
        text = value.literal if isinstance(value, _FloatLiteral) else str(value)
        kind = f"number {text}"
    return GoJSONError(f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}")


def field_value(obj: dict[str, Any], name: str) -> tuple[bool, Any]:
    """Look a field up the way Go does: case-insensitively, last key wins."""
    found, result = False, None
    folded = name.casefold()
    for key, value in obj.items():
        if key == name or key.casefold() == folded:
            found, result = True, value
    return found, result


def as_string(value: Any, field: str) -> str | None:
    """A string field; ``None`` means JSON null (leave the field unchanged)."""
    if value is None or isinstance(value, str):
        return value
    raise _type_error(value, field, "string")


def as_bool(value: Any, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(value, field, "bool")


def as_int(value: Any, field: str, go_type: str = "int64") -> int | None:
    if value is None:
        return None
    low, high = _INT_RANGES[go_type]
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise _type_error(value, field, go_type, literal=True)


def as_float32(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(float(value)) and abs(float(value)) <= _FLOAT32_MAX):
        return float32(float(value))
    raise _type_error(value, field, "float32", literal=True)


def float32(value: float) -> float:
    """Round a Python float to the nearest IEEE single."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def format_float32(value: float) -> str:
    """Format like Go's json.Marshal of a float32: shortest round-trip form."""
    single = float32(value)
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    text = repr(single)
    for digits in range(1, 10):
        candidate = f"{single:.{digits}g}"
        if float32(float(candidate)) == single:
            text = candidate
            break
    magnitude = abs(single)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = f"{Decimal(text):e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent):+03d}".replace("e+0", "e+").replace("e-0", "e-")
    formatted = format(Decimal(text), "f")
    if "." in formatted:
        formatted = formatted.rstrip("0").rstrip(".")
    return formatted


def dumps(value: Any) -> str:
    """Compact JSON with Go's HTML escaping of ``<``, ``>`` and ``&``."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
