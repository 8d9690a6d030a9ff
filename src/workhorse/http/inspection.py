"""What the request inspector records of one request, read off its ASGI messages and state.

``Seen`` watches the messages go by (sizes, status, whether the response ended, the first
bytes of each body); ``entry_of`` turns it and the request's state (key, model, tokens,
idempotency outcome, the error rendered) into an ``Entry`` once the response is done.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Scope

from workhorse.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    Forbidden,
    InvalidRequest,
    LimitExceeded,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    UnsupportedMediaType,
    WorkhorseError,
)
from workhorse.http.errors import error_body
from workhorse.obs.redact import redact_body, redact_headers
from workhorse.store.request_log import Entry

HEAD_BYTES = 4096
"""Bytes kept of each response to find the resource it created or the error it carried."""

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_FIRST_ID = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_.:-]{1,128})"')
_FIRST_OBJECT = re.compile(rb'"object"\s*:\s*"([a-z_.]{1,64})"')
_VECTOR_STORE = re.compile(rb'"vector_store_id"\s*:\s*"([A-Za-z0-9_.:-]{1,128})"')

# Where a created object can be read back; ``{vs}`` is its vector store.
_URLS = {
    "response": "/v1/responses/{id}",
    "file": "/v1/files/{id}",
    "upload": "/v1/uploads/{id}",
    "conversation": "/v1/conversations/{id}",
    "vector_store": "/v1/vector_stores/{id}",
    "vector_store.file": "/v1/vector_stores/{vs}/files/{id}",
    "vector_store.files_batch": "/v1/vector_stores/{vs}/file_batches/{id}",
    "fine_tuning.job": "/v1/fine_tuning/jobs/{id}",
    "project": "/v1/admin/projects/{id}",
    "api_key": "/v1/admin/keys/{id}",
    "chat.completion": "",
    "chat.completion.chunk": "",
    "message": "",
}


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lowercase), if sent."""
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def trace_id_of(scope: Scope) -> str | None:
    """The trace id of a W3C ``traceparent`` the client sent, if it is well formed."""
    value = header(scope, b"traceparent")
    match = _TRACEPARENT.match(value.strip().lower()) if value else None
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


@dataclass
class Seen:
    """The messages of one request and its response, as they go by."""

    keep_request: int = 0
    """Bytes of the request body to keep (capture); 0 keeps none."""
    keep_response: int = HEAD_BYTES
    bytes_in: int = 0
    bytes_out: int = 0
    status: int = 0
    finished: bool = False
    """The last body message of the response was sent."""
    disconnected: bool = False
    """The client went away before the response ended."""
    request_body: bytearray = field(default_factory=bytearray)
    response_body: bytearray = field(default_factory=bytearray)
    response_headers: list[tuple[str, str]] = field(default_factory=list)

    def received(self, message: Message) -> None:
        if message["type"] == "http.request":
            body = message.get("body", b"")
            self.bytes_in += len(body)
            if len(self.request_body) < self.keep_request:
                self.request_body.extend(body[: self.keep_request - len(self.request_body)])
        elif message["type"] == "http.disconnect" and not self.finished:
            self.disconnected = True

    def sent(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.bytes_out += len(body)
            if len(self.response_body) < self.keep_response:
                self.response_body.extend(body[: self.keep_response - len(self.response_body)])
            if not message.get("more_body", False):
                self.finished = True

    def response_header(self, name: str) -> str | None:
        return next((v for k, v in self.response_headers if k.lower() == name), None)


def created_by(method: str, path: str, seen: Seen) -> list[dict[str, str | None]]:
    """The resource a successful POST created (an answer whose id is not in its path),
    found at the head of the answer: ``[{"object", "id", "url"}]``."""
    if method != "POST" or not 200 <= seen.status < 300:
        return []
    head = bytes(seen.response_body)
    found_id, found_object = _FIRST_ID.search(head), _FIRST_OBJECT.search(head)
    if found_id is None or found_object is None:
        return []
    object_id, kind = found_id.group(1).decode(), found_object.group(1).decode()
    template = _URLS.get(kind)
    if template is None or object_id in path:
        return []
    store = _VECTOR_STORE.search(head)
    if "{vs}" in template and store is None:
        return []
    url = template.format(id=object_id, vs=store.group(1).decode() if store else "")
    return [{"object": kind, "id": object_id, "url": url or None}]


@dataclass(frozen=True)
class ErrorSummary:
    """An error as the client got it."""

    type: str | None = None
    code: str | None = None
    param: str | None = None
    message: str | None = None


def _from_envelope(envelope: Any) -> ErrorSummary:
    error = envelope.get("error") if isinstance(envelope, dict) else None
    if not isinstance(error, dict):
        return ErrorSummary()

    def text(name: str) -> str | None:
        value = error.get(name)
        return str(value) if value is not None else None

    return ErrorSummary(text("type"), text("code"), text("param"), text("message"))


def error_summary(state: dict[str, Any], path: str, seen: Seen) -> ErrorSummary:
    """The error the request ended with: the one rendered for it, else the envelope at
    the head of a 4xx or 5xx answer (a replayed failure, a framework's refusal)."""
    rendered = state.get("error")
    if isinstance(rendered, WorkhorseError):
        summary = _from_envelope(error_body(rendered, path, state.get("request_id")))
        # Anthropic's envelope names no code or param: the inspector still keeps them.
        return ErrorSummary(
            summary.type,
            summary.code or rendered.code,
            summary.param or rendered.param,
            summary.message,
        )
    if seen.status < 400:
        return ErrorSummary()
    try:
        return _from_envelope(json.loads(bytes(seen.response_body)))
    except ValueError:
        return ErrorSummary()


_BODY_CODES = {"invalid_json", "invalid_form", "invalid_multipart", "invalid_xml", "invalid_soap"}
_REASONS: tuple[tuple[type[WorkhorseError], str], ...] = (
    (PayloadTooLarge, "payload_too_large"),
    (UnsupportedMediaType, "unsupported_media_type"),
    (RequestTimeout, "request_timeout"),
    (AuthenticationFailed, "unauthorized"),
    (Forbidden, "forbidden"),
    (LimitExceeded, "rate_limited"),
    (BudgetExceeded, "rate_limited"),
    (RateLimited, "busy"),  # a model's waiting line is full
)


def rejection_reason(state: dict[str, Any]) -> str | None:
    """Why the pipeline refused the request, if it did: the metric's ``reason``."""
    error = state.get("error")
    if not isinstance(error, WorkhorseError):
        return None
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    if isinstance(error, InvalidRequest) and error.code in _BODY_CODES:
        return "invalid_body"
    if isinstance(error, InvalidRequest) and error.code == "invalid_value":
        return "validation"  # the body's fields, as the operation's model checks them
    return None


def captured(scope: Scope, seen: Seen, limit: int) -> str:
    """Headers and bodies of the request and its response, redacted, as JSON."""
    request_headers = [
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])
    ]
    request_type = header(scope, b"content-type")
    response_type = seen.response_header("content-type")
    document = {
        "request": {
            "headers": redact_headers(request_headers),
            "body": redact_body(
                bytes(seen.request_body), request_type, complete=seen.bytes_in <= limit
            ),
            "truncated": seen.bytes_in > limit,
        },
        "response": {
            "headers": redact_headers(seen.response_headers),
            "body": redact_body(
                bytes(seen.response_body[:limit]), response_type, complete=seen.bytes_out <= limit
            ),
            "truncated": seen.bytes_out > limit,
        },
    }
    return json.dumps(document, ensure_ascii=False)


def _cut(value: object, most: int) -> str | None:
    return str(value)[:most] if value is not None else None


def _tokens(meter: object, name: str) -> int | None:
    value = getattr(meter, name, None)
    return value if isinstance(value, int) and getattr(meter, "recorded", False) else None


def request_bytes(scope: Scope, seen: Seen) -> int:
    """The body's size: as declared by Content-Length (a body refused unread still has
    one), else the bytes read."""
    declared = header(scope, b"content-length")
    return int(declared) if declared and declared.isdigit() else seen.bytes_in


@dataclass(frozen=True)
class Timing:
    """When a request arrived and how long it took."""

    at_ms: int
    duration_ms: float


def entry_of(
    scope: Scope, seen: Seen, timing: Timing, *, route: str, retries: int, capture: int | None
) -> Entry:
    """The record of a finished request; ``capture`` keeps its bodies up to that size."""
    state: dict[str, Any] = scope.get("state", {})
    path = str(scope.get("path", ""))
    error = error_summary(state, path, seen)
    created = created_by(str(scope.get("method")), path, seen)
    meter = state.get("meter")
    return Entry(
        request_id=str(state.get("request_id")),
        trace_id=state.get("trace_id"),
        at_ms=timing.at_ms,
        method=str(scope.get("method")),
        route=route,
        path=path[:2048],
        status=seen.status,
        duration_ms=round(timing.duration_ms, 3),
        content_type=_cut(header(scope, b"content-type") or None, 256),
        bytes_in=request_bytes(scope, seen),
        bytes_out=seen.bytes_out,
        api_key_id=state.get("api_key_id"),
        api_key_name=_cut(state.get("api_key_name"), 256),
        project_id=state.get("project_id"),
        model=_cut(state.get("model"), 400),
        input_tokens=_tokens(meter, "input_tokens"),
        output_tokens=_tokens(meter, "output_tokens"),
        idempotency=state.get("idempotency"),
        client_retries=retries,
        disconnected=seen.disconnected or (seen.status != 0 and not seen.finished),
        error_type=_cut(error.type, 64),
        error_code=_cut(error.code, 64),
        error_param=_cut(error.param, 256),
        error_message=error.message,
        created_json=json.dumps(created) if created else None,
        captured_json=captured(scope, seen, capture) if capture is not None else None,
    )
