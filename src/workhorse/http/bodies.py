"""Request bodies: read within limits, decode strictly, validate with the operation's model.

An endpoint declares ``body: Annotated[Model, ParsedBody(Model)]`` and gets the cap,
strict JSON and a 400 naming the offending field or position. ``document_bodies`` adds
the request body of every such operation to the OpenAPI document.
"""

from __future__ import annotations

import json
from typing import Any, Generic, NoReturn, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from workhorse.errors import InvalidRequest, PayloadTooLarge, WorkhorseError
from workhorse.http.deps import get_container
from workhorse.http.errors import validation_error

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 64
JSON_TYPES = ("application/json",)


class UnsupportedMediaType(WorkhorseError):
    """The body's Content-Type is not one this operation reads."""

    status = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"


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


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes before and while reading."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length must be a non-negative integer")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class ParsedBodyDependency(Generic[M]):
    """Callable dependency producing the validated body of one operation."""

    def __init__(self, model: type[M], limit: int | None = None) -> None:
        self.model = model
        self.limit = limit

    async def __call__(self, request: Request) -> M:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in JSON_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type {media_type or '(none)'!r} is not supported; "
                f"send one of: {', '.join(JSON_TYPES)}"
            )
        limit = self.limit or get_container(request).settings.max_body_bytes
        data = parse_json(await read_body(request, limit))
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object", code="invalid_json")
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc.errors()) from exc


def ParsedBody(model: type[M], limit: int | None = None) -> Any:
    """``Depends`` marker for a validated body of ``model``."""
    return Depends(ParsedBodyDependency(model, limit))


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is ``ParsedBody(model)``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": schema} for media in JSON_TYPES},
        }
    }


def document_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Move request-body models from ``request_body`` into ``components/schemas``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                body = media.get("schema", {})
                if "$ref" in body or "title" not in body:
                    continue
                components.update(body.pop("$defs", {}))
                components[body["title"]] = body
                media["schema"] = {"$ref": f"#/components/schemas/{body['title']}"}
    return schema
