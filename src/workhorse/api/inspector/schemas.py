"""Wire shapes of ``/v1/admin/requests``: recent requests as the inspector recorded them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

IdempotencyOutcome = Literal[
    "claimed", "replayed", "conflict", "mismatch", "invalid", "expired_takeover"
]


class RequestKey(BaseModel):
    """The API key a request was made with."""

    id: str
    name: str | None = None


class RequestUsage(BaseModel):
    """Tokens the request's model calls used, as its usage records say."""

    input_tokens: int
    output_tokens: int


class RequestError(BaseModel):
    """The error the client got, exactly as it got it."""

    type: str | None
    code: str | None
    param: str | None
    message: str | None


class CreatedResource(BaseModel):
    """A resource the request created, and where to read it (none for answers that are
    not stored)."""

    object: str
    id: str
    url: str | None


class CapturedMessage(BaseModel):
    """Headers and the start of the body of a request or response, secrets redacted."""

    headers: list[tuple[str, str]]
    body: str
    truncated: bool


class Captured(BaseModel):
    request: CapturedMessage
    response: CapturedMessage


class RequestObject(BaseModel):
    """One request the server answered."""

    object: Literal["request"] = "request"
    id: str
    """The request id (``x-request-id``)."""
    trace_id: str | None
    created_at: int
    """When it arrived, Unix seconds."""
    created_at_ms: int
    method: str
    route: str
    """The route template it matched, or ``unmatched``."""
    path: str
    status: int
    duration_ms: float
    content_type: str | None
    request_bytes: int
    response_bytes: int
    api_key: RequestKey | None
    project_id: str | None
    model: str | None
    usage: RequestUsage | None
    idempotency: IdempotencyOutcome | None
    """What the Idempotency-Key did, if the request sent one."""
    client_retries: int
    """``x-stainless-retry-count``: how many times the SDK had already sent it."""
    client_disconnected: bool
    """The client went away before the whole response was sent."""
    error: RequestError | None
    created: list[CreatedResource]
    captured: Captured | None = None
    """Only on one request's page, and only on routes an operator chose to capture."""


class RequestList(BaseModel):
    """Requests, newest first; ``next_page`` continues the listing."""

    object: Literal["list"] = "list"
    data: list[RequestObject]
    has_more: bool
    next_page: str | None
