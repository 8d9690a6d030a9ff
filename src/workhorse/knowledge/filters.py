"""Attribute filters of vector store searches (OpenAI's comparison and compound filters).

A filter is the JSON the client sent: ``{"type": "eq", "key": "year", "value": 2024}``,
or ``{"type": "and" | "or", "filters": [...]}``. A file without the key never matches a
comparison (``ne`` and ``nin`` included): absent is not a value. Comparing values of
different kinds (a number with a string) does not match either.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

Value = str | float | bool
_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _compare(kind: str, actual: Value, expected: Any) -> bool:
    if kind in ("in", "nin"):
        members = expected if isinstance(expected, list) else [expected]
        found = any(type(actual) is type(m) and actual == m for m in members)
        return found if kind == "in" else not found
    if type(actual) is not type(expected) and not (
        isinstance(actual, int | float)
        and isinstance(expected, int | float)
        and not isinstance(actual, bool)
        and not isinstance(expected, bool)
    ):
        return False
    if kind == "eq":
        return bool(actual == expected)
    if kind == "ne":
        return bool(actual != expected)
    if isinstance(actual, bool):
        return False  # booleans are not ordered
    ordered = _ORDER.get(kind)
    if ordered is not None:
        left: Any = actual  # same kind of value, checked above
        return bool(ordered(left, expected))
    raise ValueError(f"unknown filter type {kind!r}")


def matches(spec: dict[str, Any], attributes: dict[str, Value]) -> bool:
    """Whether a file with ``attributes`` passes the filter ``spec``."""
    kind = spec["type"]
    if kind == "and":
        return all(matches(f, attributes) for f in spec["filters"])
    if kind == "or":
        return any(matches(f, attributes) for f in spec["filters"])
    key = spec["key"]
    if key not in attributes:
        return False
    return _compare(kind, attributes[key], spec["value"])
