"""Conversations: requests to store calls, records to wire objects."""

from __future__ import annotations

from workhorse.api.conversations.items import InputItem, StoredItem, normalise
from workhorse.api.conversations.schemas import (
    ConversationCreateRequest,
    ConversationItemList,
    ConversationObject,
    ItemListQuery,
)
from workhorse.container import Container
from workhorse.store.conversations import ConversationRecord


def to_object(record: ConversationRecord) -> ConversationObject:
    """The API shape of a record."""
    return ConversationObject(
        id=record.id, created_at=int(record.created_at.timestamp()), metadata=record.metadata
    )


def page(items: list[StoredItem], *, has_more: bool) -> ConversationItemList:
    """A list object around ``items``."""
    return ConversationItemList(
        data=items,
        first_id=items[0]["id"] if items else None,
        last_id=items[-1]["id"] if items else None,
        has_more=has_more,
    )


async def create(
    container: Container, owner: str, request: ConversationCreateRequest
) -> ConversationObject:
    """A new conversation holding the request's items."""
    items = [normalise(item) for item in request.items or []]
    record = await container.conversations.create(owner, request.metadata or {}, items)
    return to_object(record)


async def get(container: Container, owner: str, conversation_id: str) -> ConversationObject:
    """The owner's conversation."""
    return to_object(await container.conversations.get(owner, conversation_id))


async def update(
    container: Container, owner: str, conversation_id: str, metadata: dict[str, str]
) -> ConversationObject:
    """The conversation with its metadata replaced."""
    return to_object(await container.conversations.update(owner, conversation_id, metadata))


async def delete(container: Container, owner: str, conversation_id: str) -> None:
    """Delete the conversation and its items."""
    await container.conversations.delete(owner, conversation_id)


async def add_items(
    container: Container, owner: str, conversation_id: str, items: list[InputItem]
) -> ConversationItemList:
    """Append items; the answer lists them as stored."""
    stored = await container.conversations.add_items(
        owner, conversation_id, [normalise(item) for item in items]
    )
    return page(stored, has_more=False)


async def list_items(
    container: Container, owner: str, conversation_id: str, query: ItemListQuery
) -> ConversationItemList:
    """A page of the conversation's items."""
    items, has_more = await container.conversations.list_items(
        owner, conversation_id, after=query.after, limit=query.limit, order=query.order
    )
    return page(items, has_more=has_more)


async def get_item(
    container: Container, owner: str, conversation_id: str, item_id: str
) -> StoredItem:
    """One item of the conversation."""
    return await container.conversations.get_item(owner, conversation_id, item_id)


async def delete_item(
    container: Container, owner: str, conversation_id: str, item_id: str
) -> ConversationObject:
    """Delete one item; the answer is the conversation, as OpenAI's is."""
    await container.conversations.delete_item(owner, conversation_id, item_id)
    return await get(container, owner, conversation_id)
