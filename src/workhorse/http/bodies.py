"""The POST pipeline: read, decode, validate, claim the Idempotency-Key.

An endpoint declares ``body: Annotated[Model, ParsedBody(Model)]`` and gets, whatever
the wire format (JSON, HTML form, multipart, XML):

- authentication first (no body is read for an unknown caller);
- the body cap (413 from ``Content-Length`` before reading, or by counted bytes), a
  minimum arrival rate (408), 415 for other content types;
- strict decoding with a 400 naming the position or field;
- validation with the operation's pydantic model (400 naming the field);
- the Idempotency-Key claim (replay, 409 or 422; see ``idempotency``).

``request_body`` documents every accepted content type in OpenAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
from workhorse.http.auth import require_api_key
from workhorse.http.deps import get_container
from workhorse.http.errors import validation_error
from workhorse.http.forms import parse_urlencoded, unflatten
from workhorse.http.idempotency import claim_idempotency_key
from workhorse.http.jsonbody import parse_json
from workhorse.http.multipart import MultipartLimits, MultipartReader
from workhorse.http.xml import parse_xml
from workhorse.store.api_keys import ApiKeyRecord

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
    request: Request, *, limit: int, accept_files: bool
) -> tuple[dict[str, Any], MultipartReader | None]:
    """The request's fields as plain values, whatever the content type."""
    settings = get_container(request).settings
    kind = media_type(request)
    # Only multipart streams to disk; bodies decoded in memory keep the global cap.
    in_memory = min(limit, settings.max_body_bytes)
    if kind == JSON:
        data = parse_json(await read_body(request, in_memory, settings))
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object", code="invalid_json")
        return data, None
    if kind == FORM:
        return parse_urlencoded(await read_body(request, in_memory, settings)), None
    if kind in XML_TYPES:
        return parse_xml(await read_body(request, in_memory, settings)), None
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
            return unflatten(reader.finish()), reader
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

    async def __call__(
        self, request: Request, api_key: Annotated[ApiKeyRecord, Depends(require_api_key)]
    ) -> AsyncIterator[M]:
        limit = self.limit or get_container(request).settings.max_body_bytes
        fields, reader = await decode_fields(request, limit=limit, accept_files=self.accept_files)
        try:
            try:
                body = self.model.model_validate(fields)
            except ValidationError as exc:
                raise validation_error(exc.errors()) from exc
            await claim_idempotency_key(request, api_key, body.model_dump(mode="json"))
            yield body
        finally:
            if reader is not None:
                reader.discard()


def ParsedBody(model: type[M], *, limit: int | None = None, accept_files: bool = False) -> Any:
    """``Depends`` marker for a validated body of ``model``."""
    return Depends(ParsedBodyDependency(model, limit, accept_files))


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is ``ParsedBody(model)``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": schema} for media in CONTENT_TYPES},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes the request safe to retry (see docs/idempotency.md).",
                "schema": {"type": "string", "maxLength": 255},
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
                components.update(body.pop("$defs", {}))
                components[body["title"]] = body
                media["schema"] = {"$ref": f"#/components/schemas/{body['title']}"}
    return schema
