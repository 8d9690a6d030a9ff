"""``POST /v1/chat/completions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from workhorse.api.chat import service
from workhorse.api.chat.schemas import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from workhorse.container import Container
from workhorse.errors import InvalidRequest
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation
from workhorse.http.sse import SSEResponse, event_schema

router = APIRouter(tags=["chat"], dependencies=[RequireScope(Scope.CHAT)])


def _not_streamable(stream: bool) -> None:
    if stream:
        raise InvalidRequest("stream is not available over SOAP", param="stream")


async def _create_whole(
    container: Container, caller: Meter, body: ChatCompletionRequest
) -> ChatCompletion:
    _not_streamable(body.stream)
    return await service.complete(container, caller, body)


CREATE_CHAT_COMPLETION = Operation(
    name="CreateChatCompletion",
    path="/v1/chat/completions",
    request=ChatCompletionRequest,
    response=ChatCompletion,
    run=_create_whole,
    scope=Scope.CHAT,
)

# Usage, its only nested model, is in the document already through ChatCompletion.
_CHUNK_SCHEMA = {
    k: v
    for k, v in ChatCompletionChunk.model_json_schema(
        ref_template="#/components/schemas/{model}"
    ).items()
    if k != "$defs"
}


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "content": {
                "text/event-stream": {"schema": event_schema(_CHUNK_SCHEMA, done_marker=True)}
            },
            "description": "The completion, or its chunks as server-sent events when streamed.",
        }
    },
    openapi_extra=request_body(ChatCompletionRequest),
)
async def create_chat_completion(
    body: Annotated[ChatCompletionRequest, ParsedBody(ChatCompletionRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> Response:
    """Answer a conversation, whole or streamed."""
    if body.stream:
        events, generation = await service.start_stream(container, meter, body)
        return SSEResponse(events, close=generation.aclose)
    completion = await service.complete(container, meter, body)
    # An extension field only when it was asked for: otherwise the object is OpenAI's.
    unused = {"file_search_results"} if completion.file_search_results is None else None
    return JSONResponse(completion.model_dump(mode="json", exclude=unused))
