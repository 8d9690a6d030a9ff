"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic's Messages API).

Errors on these routes use Anthropic's envelope; ``http.errors.render`` chooses it by path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from workhorse.api.messages import service
from workhorse.api.messages.schemas import (
    ANTHROPIC_VERSIONS,
    Message,
    MessageCountTokensRequest,
    MessageCreateRequest,
    MessageStreamEvent,
    MessageTokensCount,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation
from workhorse.http.sse import SSEResponse, event_schema


def check_anthropic_version(
    anthropic_version: Annotated[
        str | None,
        Header(
            description="Optional (HTML forms cannot send it); one of "
            + ", ".join(ANTHROPIC_VERSIONS),
            json_schema_extra={"enum": list(ANTHROPIC_VERSIONS)},
        ),
    ] = None,
) -> None:
    """400 for an ``anthropic-version`` this server does not speak; none at all is fine."""
    if anthropic_version is not None and anthropic_version.strip() not in ANTHROPIC_VERSIONS:
        raise InvalidRequest(
            f"anthropic-version: {anthropic_version!r} is not a supported version; "
            f"use one of {', '.join(ANTHROPIC_VERSIONS)}",
            param="anthropic-version",
        )


router = APIRouter(
    tags=["messages"],
    dependencies=[Depends(check_anthropic_version), RequireScope(Scope.CHAT)],
)


async def _create_whole(container: Container, caller: Meter, body: MessageCreateRequest) -> Message:
    if body.stream:
        raise InvalidRequest("stream is not available over SOAP", param="stream")
    return await service.create(container, caller, body)


CREATE_MESSAGE = Operation(
    name="CreateMessage",
    path="/v1/messages",
    request=MessageCreateRequest,
    response=Message,
    run=_create_whole,
    scope=Scope.CHAT,
)

_EVENT_SCHEMA = MessageStreamEvent.model_json_schema()


@router.post(
    "/messages",
    response_model=Message,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": event_schema(_EVENT_SCHEMA)}},
            "description": "The message, or its events as server-sent events when streamed.",
        }
    },
    openapi_extra=request_body(MessageCreateRequest),
)
async def create_message(
    body: Annotated[MessageCreateRequest, ParsedBody(MessageCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
    request: Request,
) -> Response:
    """Answer a conversation, whole or streamed (Anthropic's event sequence)."""
    if body.stream:
        request_id = getattr(request.state, "request_id", None)
        return SSEResponse(await service.start_stream(container, meter, body, request_id))
    message = await service.create(container, meter, body)
    return JSONResponse(message.model_dump(mode="json"))


@router.post(
    "/messages/count_tokens",
    response_model=MessageTokensCount,
    openapi_extra=request_body(MessageCountTokensRequest),
)
async def count_message_tokens(
    body: Annotated[MessageCountTokensRequest, ParsedBody(MessageCountTokensRequest)],
    container: ContainerDep,
) -> MessageTokensCount:
    """Prompt tokens the system prompt and messages take on the model."""
    return await service.count_tokens(container, body)
