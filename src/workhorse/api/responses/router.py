"""``/v1/responses``: create (whole, streamed, background), retrieve or resume, cancel,
delete, input items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

from workhorse.api.responses import service
from workhorse.api.responses.schemas import (
    InputItemList,
    InputItemsQuery,
    ResponseCreateRequest,
    ResponseDeleted,
    ResponseObject,
    ResponseSummary,
    RetrieveQuery,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation
from workhorse.http.sse import SSEEvent, SSEResponse, event_schema
from workhorse.store.responses import Json, dumps

router = APIRouter(tags=["responses"], dependencies=[RequireScope(Scope.CHAT)])

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": event_schema({"type": "object"})}},
        "description": "The response, or its typed events as server-sent events when streamed.",
    }
}


async def _create_whole(
    container: Container, caller: Meter, body: ResponseCreateRequest
) -> ResponseSummary:
    if body.stream:
        raise InvalidRequest("stream is not available over SOAP", param="stream")
    created = await service.create(container, caller, body)
    assert created.response is not None
    return ResponseSummary.of(created.response)


CREATE_RESPONSE = Operation(
    name="CreateResponse",
    path="/v1/responses",
    request=ResponseCreateRequest,
    response=ResponseSummary,
    run=_create_whole,
    scope=Scope.CHAT,
)


async def _sse(events: AsyncIterator[Json]) -> AsyncIterator[str | SSEEvent]:
    try:
        async for event in events:
            yield SSEEvent(dumps(event), event=event["type"], id=str(event["sequence_number"]))
    finally:
        await events.aclose()  # type: ignore[attr-defined]


@router.post(
    "/responses",
    response_model=ResponseObject,
    responses=_STREAM,
    openapi_extra=request_body(ResponseCreateRequest),
)
async def create_response(
    body: Annotated[ResponseCreateRequest, ParsedBody(ResponseCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> Response:
    """Generate a response: whole, streamed, or in the background."""
    created = await service.create(container, meter, body)
    if created.events is not None:
        return SSEResponse(_sse(created.events), close=created.on_disconnect)
    return JSONResponse(created.response)


@router.get("/responses/{response_id}", response_model=ResponseObject, responses=_STREAM)
async def retrieve_response(
    response_id: str,
    query: Annotated[RetrieveQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The response; with ``stream=true``, its events after ``starting_after`` (or
    ``Last-Event-ID``), live until it ends."""
    if not query.stream:
        return JSONResponse(await service.retrieve(container, api_key.project_id, response_id))
    after = query.starting_after
    # An empty Last-Event-ID (an event stream that had seen no id yet) means the start.
    if after is None and last_event_id:
        if not last_event_id.lstrip("-").isdigit():
            raise InvalidRequest("Last-Event-ID must be a sequence number", param="Last-Event-ID")
        after = int(last_event_id)
    events = await service.stream(
        container, api_key.project_id, response_id, -1 if after is None else after
    )
    return SSEResponse(_sse(events))


@router.post("/responses/{response_id}/cancel", response_model=ResponseObject)
async def cancel_response(
    response_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> Response:
    """Cancel a background response; answers once it has stopped."""
    return JSONResponse(await service.cancel(container, api_key.project_id, response_id))


@router.delete("/responses/{response_id}", response_model=ResponseDeleted)
async def delete_response(
    response_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> ResponseDeleted:
    """Delete a response and its events."""
    await service.delete(container, api_key.project_id, response_id)
    return ResponseDeleted(id=response_id)


@router.get("/responses/{response_id}/input_items", response_model=InputItemList)
async def list_input_items(
    response_id: str,
    query: Annotated[InputItemsQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> InputItemList:
    """The items the response was given, newest first by default."""
    return await service.input_items(container, api_key.project_id, response_id, query)
