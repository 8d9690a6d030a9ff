"""Strict JSON bodies: UTF-8 only, no NaN or Infinity, no duplicate keys, bounded nesting."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from workhorse.errors import InvalidRequest

MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _depth(value: Any, limit: int) -> int:
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"body is not valid UTF-8 (byte {exc.start})", code="invalid_json"
        ) from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="invalid_json",
        ) from exc
    except RecursionError as exc:
        raise InvalidRequest(
            f"body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json"
        ) from exc
    except ValueError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}", code="invalid_json") from exc
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json")
    return value
