"""``/v1/conversations``: conversations and their items."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from workhorse.api.conversations import service
from workhorse.api.conversations.items import StoredItem
from workhorse.api.conversations.schemas import (
    ConversationCreateRequest,
    ConversationDeleted,
    ConversationItemList,
    ConversationObject,
    ConversationSoapObject,
    ConversationUpdateRequest,
    ItemListQuery,
    ItemsCreateRequest,
)
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["conversations"], dependencies=[RequireScope(Scope.CHAT)])


async def _create(
    container: Container, caller: Meter, body: ConversationCreateRequest
) -> ConversationSoapObject:
    return ConversationSoapObject.of(await service.create(container, caller.project_id, body))


CREATE_CONVERSATION = Operation(
    name="CreateConversation",
    path="/v1/conversations",
    request=ConversationCreateRequest,
    response=ConversationSoapObject,
    run=_create,
    scope=Scope.CHAT,
)


@router.post(
    "/conversations",
    response_model=ConversationObject,
    openapi_extra=request_body(ConversationCreateRequest),
)
async def create_conversation(
    body: Annotated[ConversationCreateRequest, ParsedBody(ConversationCreateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> ConversationObject:
    """Create a conversation, optionally with up to 20 items."""
    return await service.create(container, api_key.project_id, body)


@router.get("/conversations/{conversation_id}", response_model=ConversationObject)
async def retrieve_conversation(
    conversation_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> ConversationObject:
    """One conversation."""
    return await service.get(container, api_key.project_id, conversation_id)


@router.post(
    "/conversations/{conversation_id}",
    response_model=ConversationObject,
    openapi_extra=request_body(ConversationUpdateRequest),
)
async def update_conversation(
    conversation_id: str,
    body: Annotated[ConversationUpdateRequest, ParsedBody(ConversationUpdateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> ConversationObject:
    """Replace a conversation's metadata."""
    return await service.update(container, api_key.project_id, conversation_id, body.metadata)


@router.delete("/conversations/{conversation_id}", response_model=ConversationDeleted)
async def delete_conversation(
    conversation_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> ConversationDeleted:
    """Delete a conversation and its items."""
    await service.delete(container, api_key.project_id, conversation_id)
    return ConversationDeleted(id=conversation_id)


@router.post(
    "/conversations/{conversation_id}/items",
    response_model=ConversationItemList,
    openapi_extra=request_body(ItemsCreateRequest),
)
async def create_items(
    conversation_id: str,
    body: Annotated[ItemsCreateRequest, ParsedBody(ItemsCreateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> ConversationItemList:
    """Append up to 20 items to a conversation."""
    return await service.add_items(container, api_key.project_id, conversation_id, body.items)


@router.get("/conversations/{conversation_id}/items", response_model=ConversationItemList)
async def list_items(
    conversation_id: str,
    query: Annotated[ItemListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> ConversationItemList:
    """A page of a conversation's items, newest first by default."""
    return await service.list_items(container, api_key.project_id, conversation_id, query)


@router.get("/conversations/{conversation_id}/items/{item_id}", response_model=StoredItem)
async def retrieve_item(
    conversation_id: str, item_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> StoredItem:
    """One item of a conversation."""
    return await service.get_item(container, api_key.project_id, conversation_id, item_id)


@router.delete(
    "/conversations/{conversation_id}/items/{item_id}", response_model=ConversationObject
)
async def delete_item(
    conversation_id: str, item_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> ConversationObject:
    """Delete one item; answers with the conversation."""
    return await service.delete_item(container, api_key.project_id, conversation_id, item_id)
