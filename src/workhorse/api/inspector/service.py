"""Request records as the inspector's API shows them (no HTTP)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from workhorse.api.inspector.schemas import (
    Captured,
    CreatedResource,
    IdempotencyOutcome,
    RequestError,
    RequestKey,
    RequestList,
    RequestObject,
    RequestUsage,
)
from workhorse.errors import InvalidRequest, NotFound
from workhorse.store.request_log import Filters, Record, RequestLog

PAGE_PREFIX = "rq_"


@dataclass(frozen=True)
class RequestQuery:
    """A listing: what it keeps, how many, and where it starts."""

    filters: Filters
    limit: int
    before_seq: int | None


def page_token(seq: int) -> str:
    return f"{PAGE_PREFIX}{seq}"


def parse_page(page: str | None) -> int | None:
    """The position a ``next_page`` token names; 400 for anything else."""
    if page is None:
        return None
    digits = page.removeprefix(PAGE_PREFIX)
    if not page.startswith(PAGE_PREFIX) or not digits.isdigit():
        raise InvalidRequest(
            "page must be the next_page of an earlier listing", param="page", code="invalid_value"
        )
    return int(digits)


def request_object(record: Record, *, with_capture: bool) -> RequestObject:
    """The API's view of one record."""
    entry = record.entry
    error = None
    if entry.error_type or entry.error_code or entry.error_message:
        error = RequestError(
            type=entry.error_type,
            code=entry.error_code,
            param=entry.error_param,
            message=entry.error_message,
        )
    usage = None
    if entry.input_tokens is not None or entry.output_tokens is not None:
        usage = RequestUsage(
            input_tokens=entry.input_tokens or 0, output_tokens=entry.output_tokens or 0
        )
    captured = None
    if with_capture and entry.captured_json:
        captured = Captured.model_validate_json(entry.captured_json)
    return RequestObject(
        id=entry.request_id,
        trace_id=entry.trace_id,
        created_at=entry.at_ms // 1000,
        created_at_ms=entry.at_ms,
        method=entry.method,
        route=entry.route,
        path=entry.path,
        status=entry.status,
        duration_ms=entry.duration_ms,
        content_type=entry.content_type,
        request_bytes=entry.bytes_in,
        response_bytes=entry.bytes_out,
        api_key=RequestKey(id=entry.api_key_id, name=entry.api_key_name)
        if entry.api_key_id
        else None,
        project_id=entry.project_id,
        model=entry.model,
        usage=usage,
        idempotency=cast(IdempotencyOutcome | None, entry.idempotency),
        client_retries=entry.client_retries,
        client_disconnected=entry.disconnected,
        error=error,
        created=[CreatedResource(**item) for item in json.loads(entry.created_json or "[]")],
        captured=captured,
    )


async def list_requests(log: RequestLog, query: RequestQuery) -> RequestList:
    """A page of records, newest first."""
    records = await log.page(query.filters, limit=query.limit + 1, before_seq=query.before_seq)
    page, more = records[: query.limit], len(records) > query.limit
    return RequestList(
        data=[request_object(r, with_capture=False) for r in page],
        has_more=more,
        next_page=page_token(page[-1].seq) if more else None,
    )


async def retrieve_request(log: RequestLog, request_id: str) -> RequestObject:
    """One request's record, with what was captured of it."""
    record = await log.get(request_id)
    if record is None:
        raise NotFound(
            f"no record of request {request_id!r}: it is older than the inspector keeps, "
            "or was never made",
            param="request_id",
        )
    return request_object(record, with_capture=True)
