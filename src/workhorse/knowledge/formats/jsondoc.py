"""JSON and JSON Lines: one block per top-level element, its leaves as "path: value" lines."""

from __future__ import annotations

import json
import re

from workhorse.errors import CorruptDocument, DocumentLimitExceeded
from workhorse.knowledge.blocks import Block

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_json(text: str, filename: str, *, max_depth: int) -> list[Block]:
    """A JSON document. Wrappers with one member (``{"data": [...]}``) are looked through,
    so the blocks are the elements of the first level that has several; each block's
    location is its JSONPath (``$.data[3]``). Nesting deeper than ``max_depth`` is refused."""
    value = _load(text, filename, where="", max_depth=max_depth)
    path = "$"
    while isinstance(value, dict | list) and len(value) == 1:
        if isinstance(value, dict):
            key, value = next(iter(value.items()))
            path = _child(path, key)
        else:
            path, value = f"{path}[0]", value[0]
    if isinstance(value, dict):
        members = [(_child(path, key), item) for key, item in value.items()]
    elif isinstance(value, list):
        members = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        members = [(path, value)]
    return [Block(_flatten(item), "text", where) for where, item in members]


def read_json_lines(text: str, filename: str, *, max_depth: int) -> list[Block]:
    """JSON Lines: one block per non-blank line, located by ``"line N"``."""
    blocks = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            value = _load(line, filename, where=f"line {number}: ", max_depth=max_depth)
            blocks.append(Block(_flatten(value), "text", f"line {number}"))
    return blocks


def _load(text: str, filename: str, *, where: str, max_depth: int) -> object:
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptDocument(
            f"{filename} is not valid JSON ({where}line {exc.lineno}, column {exc.colno}:"
            f" {exc.msg})"
        ) from exc
    except RecursionError as exc:
        # json.loads recurses per level: it gives up near the interpreter's recursion
        # limit, far above any cap, and quickly (it has read no further than that deep).
        raise _too_deep(filename, where, max_depth) from exc
    if _depth(value, max_depth) > max_depth:
        raise _too_deep(filename, where, max_depth)
    return value


def _too_deep(filename: str, where: str, max_depth: int) -> DocumentLimitExceeded:
    return DocumentLimitExceeded(
        f"{filename}: {where}JSON nested more than {max_depth:,} levels deep"
        " (limit: WORKHORSE_PARSE_MAX_DEPTH)"
    )


def _depth(value: object, stop_above: int) -> int:
    """Levels of arrays and objects in ``value`` (iterative; stops past ``stop_above``)."""
    deepest = 0
    stack: list[tuple[int, object]] = [(1, value)]
    while stack:
        depth, item = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > stop_above:
                break
            stack.extend((depth + 1, child) for child in _children(item))
    return deepest


def _children(item: dict[str, object] | list[object]) -> list[object]:
    return list(item.values()) if isinstance(item, dict) else item


def _child(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _flatten(value: object) -> str:
    """Leaves as ``"a.b[0]: value"`` lines, depth first, in document order (iterative:
    any depth json.loads accepts)."""
    if not isinstance(value, dict | list):
        return _scalar(value)
    lines: list[str] = []
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            children = [(_child(path, key), child) for key, child in item.items()]
        elif isinstance(item, list):
            children = [(f"{path}[{index}]", child) for index, child in enumerate(item)]
        else:
            lines.append(f"{path}: {_scalar(item)}")
            continue
        stack.extend(reversed(children))
    return "\n".join(lines)


def _scalar(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
