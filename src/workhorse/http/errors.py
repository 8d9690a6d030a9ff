"""The one place errors become responses: the OpenAI envelope with the right status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from workhorse.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    WorkhorseError,
)
from workhorse.http.soap import fault_response, version_of

SOAP_PATH = "/soap"

# pydantic names the branch of a union it tried ("str", "list[TextPart]", ...); a client
# wants the field path only.
_TYPE_LABELS = {"str", "int", "float", "bool", "list", "dict", "none", "bytes"}


def param_path(loc: Sequence[int | str]) -> str | None:
    """``("messages", 0, "content")`` → ``messages[0].content``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _TYPE_LABELS or any(c in part for c in "[(") or part.startswith("function-"):
            continue
        else:
            path += f".{part}" if path else part
    return path or None


def validation_error(errors: Sequence[Any], *, skip: int = 0) -> InvalidRequest:
    """The first pydantic error as a 400 naming its field."""
    first = errors[0]
    param = param_path(tuple(first.get("loc", ()))[skip:])
    message = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif param:
        message = f"Invalid value for '{param}': {message}"
    return InvalidRequest(message, param=param, code="invalid_value")


def render(exc: WorkhorseError, request: Request | None = None) -> Response:
    """The response for an error: a SOAP Fault on /soap, else the OpenAI envelope."""
    if request is not None and request.url.path == SOAP_PATH:
        return fault_response(version_of(request.headers.get("content-type")), exc)
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)


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
                headers=dict(exc.headers or {}),
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


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 validation responses with our 4XX/5XX error envelope."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = {"description": "Client error", "content": envelope}
            responses["5XX"] = {"description": "Server or upstream error", "content": envelope}
    return schema
