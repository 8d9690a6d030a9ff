"""HTML-form bodies: ``application/x-www-form-urlencoded`` with bracket notation.

``messages[0][role]=user&messages[0][content]=Hi&stop[]=a&stop[]=b`` becomes
``{"messages": [{"role": "user", "content": "Hi"}], "stop": ["a", "b"]}``, so a plain
HTML form can call any operation. The same unflattening serves multipart field parts.
A name given more than once is kept as ``Repeated`` values, which ``shape`` reads as a
list where the field is one and refuses otherwise. Ambiguous input is refused rather
than guessed: a name used both as a value and as a container, list indices with gaps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from workhorse.errors import InvalidRequest, PayloadTooLarge

MAX_FIELDS = 1000
MAX_NAME_LENGTH = 256
MAX_DEPTH = 16

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


@dataclass
class Repeated:
    """A form field given more than once, in order."""

    values: list[Any]


class _Node(dict[str | int, Any]):
    """An object or list under construction."""


def _segments(name: str) -> list[str]:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(
            f"field name longer than {MAX_NAME_LENGTH} characters", param=name[:64]
        )
    match = _NAME.match(name)
    if match is None:
        raise InvalidRequest(f"malformed field name {name!r}", param=name)
    segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
    if len(segments) > MAX_DEPTH:
        raise InvalidRequest(f"field name nests deeper than {MAX_DEPTH} levels", param=name)
    return segments


def unflatten(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Nested fields from bracket-notation names; raises InvalidRequest on ambiguity."""
    root = _Node()
    for count, (name, value) in enumerate(pairs, start=1):
        if count > MAX_FIELDS:
            raise PayloadTooLarge(f"body has more than {MAX_FIELDS} fields")
        segments = _segments(name)
        node = root
        for i, segment in enumerate(segments):
            key: str | int
            if segment == "":
                key = len(node)  # "[]" appends
            elif segment.isdigit() and i > 0:
                key = int(segment)
            else:
                key = segment
            last = i == len(segments) - 1
            existing = node.get(key)
            if last:
                if isinstance(existing, _Node):
                    raise InvalidRequest(
                        f"field {name!r} is used both as a value and as a container", param=name
                    )
                if isinstance(existing, Repeated):
                    existing.values.append(value)
                elif key in node:
                    # A list where the field is one (see ``shape``), else refused there.
                    node[key] = Repeated([existing, value])
                else:
                    node[key] = value
            else:
                if existing is None:
                    existing = node[key] = _Node()
                elif not isinstance(existing, _Node):
                    raise InvalidRequest(
                        f"field {name!r} is used both as a value and as a container", param=name
                    )
                node = existing
    result = _finish(root, "")
    assert isinstance(result, dict)
    return result


def _finish(node: _Node, path: str) -> dict[str, Any] | list[Any]:
    keys = list(node)
    if keys and all(isinstance(k, int) for k in keys):
        if sorted(keys) != list(range(len(keys))):
            raise InvalidRequest(f"list {path or 'fields'} has gaps in its indices", param=path)
        return [
            _finish(node[i], f"{path}[{i}]") if isinstance(node[i], _Node) else node[i]
            for i in range(len(keys))
        ]
    if any(isinstance(k, int) for k in keys):
        raise InvalidRequest(f"{path} mixes list indices and field names", param=path)
    return {
        str(k): _finish(v, f"{path}.{k}" if path else str(k)) if isinstance(v, _Node) else v
        for k, v in node.items()
    }


def parse_urlencoded(data: bytes) -> dict[str, Any]:
    """A form body as nested fields."""
    try:
        text = data.decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"form body is not valid (byte {exc.start} is not URL-encoded UTF-8)",
            code="invalid_form",
        ) from exc
    except ValueError as exc:
        if text.count("&") >= MAX_FIELDS:
            raise PayloadTooLarge(f"form body has more than {MAX_FIELDS} fields") from exc
        raise InvalidRequest(f"form body is not valid: {exc}", code="invalid_form") from exc
    return unflatten(pairs)
