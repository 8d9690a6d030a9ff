"""``POST /v1/chat/completions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from workhorse.api.chat import service, stored
from workhorse.api.chat.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionDeleted,
    ChatCompletionRequest,
    ChatCompletionUpdateRequest,
    MessageListQuery,
    StoredChatCompletionList,
    StoredChatCompletionObject,
    StoredListQuery,
    StoredMessageList,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
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


@router.get("/chat/completions", response_model=StoredChatCompletionList)
async def list_chat_completions(
    request: Request,
    query: Annotated[StoredListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> StoredChatCompletionList:
    """The project's stored completions (``store: true``); ``metadata[k]=v`` filters."""
    metadata = stored.metadata_filter(request.query_params.multi_items())
    return await stored.list_completions(
        container.chat_completions, api_key.project_id, query, metadata
    )


@router.get("/chat/completions/{completion_id}", response_model=StoredChatCompletionObject)
async def retrieve_chat_completion(
    completion_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> StoredChatCompletionObject:
    """One stored completion."""
    return await stored.retrieve(container.chat_completions, api_key.project_id, completion_id)


@router.post(
    "/chat/completions/{completion_id}",
    response_model=StoredChatCompletionObject,
    openapi_extra=request_body(ChatCompletionUpdateRequest),
)
async def update_chat_completion(
    completion_id: str,
    body: Annotated[ChatCompletionUpdateRequest, ParsedBody(ChatCompletionUpdateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> StoredChatCompletionObject:
    """Replace a stored completion's metadata."""
    updated = await container.chat_completions.update_metadata(
        api_key.project_id, completion_id, body.metadata or {}
    )
    return StoredChatCompletionObject.model_validate(updated.completion)


@router.delete("/chat/completions/{completion_id}", response_model=ChatCompletionDeleted)
async def delete_chat_completion(
    completion_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> ChatCompletionDeleted:
    """Forget a stored completion."""
    await container.chat_completions.delete(api_key.project_id, completion_id)
    return ChatCompletionDeleted(id=completion_id)


@router.get("/chat/completions/{completion_id}/messages", response_model=StoredMessageList)
async def list_chat_completion_messages(
    completion_id: str,
    query: Annotated[MessageListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> StoredMessageList:
    """The messages of a stored completion's request."""
    return await stored.messages(
        container.chat_completions, api_key.project_id, completion_id, query
    )
