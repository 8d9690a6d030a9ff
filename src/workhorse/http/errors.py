"""The one place errors become responses: the right envelope with the right status.

The envelope follows the API a path belongs to: a SOAP Fault for a ``POST /soap`` with a
SOAP Content-Type (any other method or media type never reaches SOAP), Anthropic's error
object on ``/v1/messages`` and below, the OpenAI envelope everywhere else. A 405's
``Allow`` lists every method of the path, from the routes themselves (RFC 9110 §15.5.6),
not only those of the first route that matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from workhorse.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    WorkhorseError,
)
from workhorse.http.soap import fault_response, is_soap_media, version_of

SOAP_PATH = "/soap"
ANTHROPIC_PATH = "/v1/messages"

# pydantic names the branch of a union it tried ("str", "list[TextPart]", ...); a client
# wants the field path only.
_TYPE_LABELS = {"str", "int", "float", "bool", "list", "dict", "none", "bytes"}


def param_path(loc: Sequence[int | str]) -> str | None:
    """``("messages", 0, "content")`` → ``messages[0].content``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif (
            # A union member's label follows its field; a field may be named "bytes".
            (part in _TYPE_LABELS and path)
            or any(c in part for c in "[(")
            or part.startswith(("function-", "tag:", "constrained-"))
        ):
            continue
        else:
            path += f".{part}" if path else part
    return path or None


def validation_error(errors: Sequence[Any], *, skip: int = 0) -> InvalidRequest:
    """The first pydantic error as a 400 naming its field."""
    # A union reports one error per member; the deepest one says what the client meant.
    head = tuple(errors[0].get("loc", ()))[: skip + 1]
    first = max(
        (e for e in errors if tuple(e.get("loc", ()))[: skip + 1] == head),
        key=lambda e: len(param_path(tuple(e.get("loc", ()))[skip:]) or ""),
    )
    param = param_path(tuple(first.get("loc", ()))[skip:])
    message = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif param:
        message = f"Invalid value for '{param}': {message}"
    return InvalidRequest(message, param=param, code="invalid_value")


def is_anthropic_path(path: str) -> bool:
    """Whether ``path`` belongs to the Anthropic Messages API."""
    return path == ANTHROPIC_PATH or path.startswith(ANTHROPIC_PATH + "/")


def error_body(exc: WorkhorseError, path: str, request_id: str | None) -> dict[str, object]:
    """The JSON error envelope for ``path``: Anthropic's on its routes, else OpenAI's."""
    if is_anthropic_path(path):
        return exc.to_anthropic_dict(request_id)
    return exc.to_dict()


def render(exc: WorkhorseError, request: Request | None = None) -> Response:
    """The response for an error: a SOAP Fault on /soap, else the path's JSON envelope."""
    if request is None:
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)
    request.state.error = exc  # for the request's record and access-log line
    path = request.url.path
    content_type = request.headers.get("content-type")
    if path == SOAP_PATH and request.method == "POST" and is_soap_media(content_type):
        return fault_response(version_of(content_type), exc)
    request_id = getattr(request.state, "request_id", None)
    body = error_body(exc, path, request_id)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path: the request is
    matched again under each method (routers may nest, so routes are not listed flat)."""
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the framework or our code raises through ``render``."""

    async def on_workhorse_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WorkhorseError)
        return render(exc, request)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        skip = 1 if errors and tuple(errors[0].get("loc", ()))[:1] in {("body",), ("query",)} else 0
        return render(validation_error(errors, skip=skip), request)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error: WorkhorseError
        if exc.status_code == 404:
            error = NotFound(f"no route for {request.method} {request.url.path}")
        elif exc.status_code == 405:
            error = MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}",
                headers={**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))},
            )
        elif exc.status_code == 413:
            error = PayloadTooLarge(str(exc.detail))
        elif 400 <= exc.status_code < 500:
            error = InvalidRequest(str(exc.detail))
        else:
            error = WorkhorseError(str(exc.detail))
        return render(error, request)

    app.add_exception_handler(WorkhorseError, on_workhorse_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_exception)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


ANTHROPIC_ERROR_SCHEMA: dict[str, Any] = {
    "title": "AnthropicError",
    "type": "object",
    "required": ["type", "error", "request_id"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
        "request_id": {"type": ["string", "null"]},
    },
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 validation responses with our 4XX/5XX error envelopes."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    components["AnthropicError"] = ANTHROPIC_ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        name = "AnthropicError" if is_anthropic_path(path) else "Error"
        envelope = {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = {"description": "Client error", "content": envelope}
            responses["5XX"] = {"description": "Server or upstream error", "content": envelope}
    return schema
