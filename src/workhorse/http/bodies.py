"""The POST pipeline: read, decode, validate, claim the Idempotency-Key.

An endpoint declares ``body: Annotated[Model, ParsedBody(Model)]`` and gets, whatever
the wire format (JSON, HTML form, multipart, XML):

- authentication first (no body is read for an unknown caller);
- the body cap (413 from ``Content-Length`` before reading, or by counted bytes), a
  minimum arrival rate (408), 415 for other content types;
- strict decoding with a 400 naming the position or field;
- validation with the operation's pydantic model (400 naming the field);
- a ``model`` it names checked against the key's models and project (403 / 404);
- the Idempotency-Key claim (replay, 409 or 422; see ``idempotency``).

``request_body`` documents every accepted content type in OpenAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from workhorse.config import Settings
from workhorse.errors import (
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from workhorse.governance.keys import ApiKeyRecord
from workhorse.http.auth import check_body_model, require_api_key
from workhorse.http.deps import get_container
from workhorse.http.errors import validation_error
from workhorse.http.forms import parse_urlencoded, unflatten
from workhorse.http.idempotency import MAX_KEY_LENGTH, claim_idempotency_key
from workhorse.http.jsonbody import parse_json
from workhorse.http.multipart import MultipartLimits, MultipartReader
from workhorse.http.shape import Reading, Shaper
from workhorse.http.xml import parse_xml

M = TypeVar("M", bound=BaseModel)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
XML_TYPES = ("application/xml", "text/xml")
CONTENT_TYPES = (JSON, FORM, MULTIPART, *XML_TYPES)
CLOSE = {"Connection": "close"}


def media_type(request: Request) -> str:
    """The request's media type, lower-cased, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def body_chunks(request: Request, limit: int, settings: Settings) -> AsyncIterator[bytes]:
    """The body as it arrives: 413 past ``limit`` bytes, 408 when it trickles in too slowly.

    After a grace period the body must keep up ``body_min_rate`` bytes per second on
    average, so a client cannot hold a worker with a few bytes a minute.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length must be a non-negative integer", headers=CLOSE)
        if int(declared) > limit:
            raise PayloadTooLarge(
                f"body of {declared} bytes exceeds the limit of {limit} bytes", headers=CLOSE
            )
    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = 0
    while True:
        # asyncio.timeout, not wait_for: no task per chunk on a multi-GB upload.
        deadline = started + settings.body_grace_s + received / settings.body_min_rate
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            raise RequestTimeout(
                f"body arrived slower than {settings.body_min_rate} bytes/s "
                f"({received} bytes after {loop.time() - started:.1f} s)",
                headers=CLOSE,
            ) from exc
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes", headers=CLOSE)
        yield chunk


async def read_body(request: Request, limit: int, settings: Settings) -> bytes:
    """The whole body, within the cap and the rate."""
    return b"".join([chunk async for chunk in body_chunks(request, limit, settings)])


async def decode_fields(
    request: Request, *, limit: int, accept_files: bool, shaper: Shaper
) -> tuple[dict[str, Any], MultipartReader | None]:
    """The request's fields as plain values, whatever the content type (the texts of
    forms and XML read by the operation's schema, see ``shape``)."""
    settings = get_container(request).settings
    kind = media_type(request)
    # Only multipart streams to disk; bodies decoded in memory keep the global cap.
    in_memory = min(limit, settings.max_body_bytes)
    if kind == JSON:
        data = parse_json(await read_body(request, in_memory, settings))
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object", code="invalid_json")
        return shaper.shape(data, Reading.TYPED), None
    if kind == FORM:
        fields = parse_urlencoded(await read_body(request, in_memory, settings))
        return shaper.shape(fields, Reading.FORM), None
    if kind in XML_TYPES:
        fields = parse_xml(await read_body(request, in_memory, settings))
        return shaper.shape(fields, Reading.XML), None
    if kind == MULTIPART:
        reader = MultipartReader(
            request.headers["content-type"],
            limits=MultipartLimits(
                max_parts=settings.multipart_max_parts,
                max_files=settings.multipart_max_files,
                max_field_bytes=settings.multipart_max_field_bytes,
                max_file_bytes=limit,
            ),
            upload_dir=settings.data_dir / "tmp" / "uploads",
            accept_files=accept_files,
        )
        try:
            async for chunk in body_chunks(request, limit, settings):
                reader.feed(chunk)
            return shaper.shape(unflatten(reader.finish()), Reading.FORM), reader
        except BaseException:
            reader.discard()
            raise
    raise UnsupportedMediaType(
        f"Content-Type {kind or '(none)'!r} is not supported; send one of: "
        + ", ".join(CONTENT_TYPES)
    )


class ParsedBodyDependency(Generic[M]):
    """Callable dependency producing the validated body of one operation."""

    def __init__(self, model: type[M], limit: int | None, accept_files: bool) -> None:
        self.model = model
        self.limit = limit
        self.accept_files = accept_files
        schema = model.model_json_schema()
        self.shaper = Shaper(schema)
        # A required file part: only multipart can carry the operation at all.
        self.multipart_only = bool(_required_files(schema))

    async def __call__(
        self, request: Request, api_key: Annotated[ApiKeyRecord, Depends(require_api_key)]
    ) -> AsyncIterator[M]:
        container = get_container(request)
        limit = self.limit or container.settings.max_body_bytes
        stage = container.tracing.stage
        if self.multipart_only and media_type(request) != MULTIPART:
            raise UnsupportedMediaType(
                f"this operation takes a file part: send {MULTIPART}, not "
                f"{media_type(request) or '(none)'!r}"
            )
        with stage("decode"):
            fields, reader = await decode_fields(
                request, limit=limit, accept_files=self.accept_files, shaper=self.shaper
            )
        try:
            with stage("validation"):
                try:
                    body = self.model.model_validate(fields)
                except ValidationError as exc:
                    raise validation_error(exc.errors()) from exc
                await check_body_model(request, container, api_key, body)
            with stage("idempotency claim"):
                await claim_idempotency_key(request, api_key, body.model_dump(mode="json"))
            yield body
        finally:
            if reader is not None:
                reader.discard()


def ParsedBody(model: type[M], *, limit: int | None = None, accept_files: bool = False) -> Any:
    """``Depends`` marker for a validated body of ``model``."""
    return Depends(ParsedBodyDependency(model, limit, accept_files))


def _is_file(schema: dict[str, Any]) -> bool:
    if "anyOf" in schema:  # an optional file: binary or null
        return any(_is_file(option) for option in schema["anyOf"])
    return schema.get("type") == "string" and schema.get("format") == "binary"


def _is_base64(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("format") == "base64" for option in options)


def _required_files(schema: dict[str, Any]) -> set[str]:
    properties = schema.get("properties", {})
    return {name for name in schema.get("required", []) if _is_file(properties.get(name, {}))}


def _dropping(schema: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """``schema`` without the fields ``names``, and without the branches that need them."""
    if not names:
        return schema
    kept = {k: v for k, v in schema["properties"].items() if k not in names}
    smaller = {**schema, "properties": kept}
    smaller["required"] = [name for name in schema.get("required", []) if name not in names]
    if not smaller["required"]:
        del smaller["required"]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = [b for b in schema[key] if not names & set(b.get("required", []))]
            if len(branches) > 1:
                smaller[key] = branches
            else:
                del smaller[key]
                if branches:
                    smaller["allOf"] = [*schema.get("allOf", []), branches[0]]
    return smaller


def _fields(schema: dict[str, Any], kind: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {name for name, prop in schema.get("properties", {}).items() if kind(prop)}


def _without_files(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its file fields: what JSON, form and XML bodies can carry."""
    return _dropping(schema, _fields(schema, _is_file))


def _multipart(schema: dict[str, Any], *, own_title: bool) -> dict[str, Any]:
    """The multipart media type: file fields as file parts, every other field as a JSON part.

    OpenAPI's ``encoding`` says how each part is written; JSON parts say null and typed
    values exactly. Plain text parts in bracket notation are read too (docs/formats.md).
    A file that may be left out is a file part or no part (null is not a file), and bytes
    as base64 text are for the formats without file parts, so not listed here.
    """
    files = _fields(schema, _is_file)
    base64 = _fields(schema, _is_base64)
    if files or base64:
        schema = {**_dropping(schema, base64)}
        schema["properties"] = {
            name: {"type": "string", "format": "binary"} if name in files else prop
            for name, prop in schema["properties"].items()
        }
        own_title = True
    if own_title:  # it differs from the other formats' schema: its own component
        schema = {**schema, "title": schema["title"] + "Multipart"}
    encoding = {
        name: {"contentType": "application/json"}
        for name in schema.get("properties", {})
        if name not in files
    }
    return {"schema": schema, "encoding": encoding}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is ``ParsedBody(model)``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if _required_files(schema):
        content: dict[str, Any] = {MULTIPART: _multipart(schema, own_title=False)}
    else:
        inline = _without_files(schema)
        content = {media: {"schema": inline} for media in (JSON, FORM, *XML_TYPES)}
        content[MULTIPART] = _multipart(schema, own_title=inline is not schema)
    return {
        "requestBody": {"required": True, "content": content},
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes the request safe to retry (see docs/idempotency.md).",
                # Printable ASCII; HTTP strips spaces at either end, so none there.
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_KEY_LENGTH,
                    "pattern": "^[!-~]([ -~]*[!-~])?$",
                },
            }
        ],
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
                for name, definition in {**body.pop("$defs", {}), body["title"]: body}.items():
                    if components.setdefault(name, definition) != definition:
                        # Two models of one name would silently share one schema.
                        raise ValueError(f"two different schemas are both named {name!r}")
                media["schema"] = {"$ref": f"#/components/schemas/{body['title']}"}
    return schema
