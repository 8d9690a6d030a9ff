"""Stored chat completions (``store: true``) as OpenAI's API shows them (no HTTP)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from workhorse.api.chat.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    MessageListQuery,
    StoredChatCompletionList,
    StoredChatCompletionObject,
    StoredListQuery,
    StoredMessage,
    StoredMessageList,
)
from workhorse.store.chat_completions import ChatCompletionStore, StoredCompletion

_METADATA = re.compile(r"^metadata\[(.{1,64})\]$")


def metadata_filter(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``metadata[k]=v`` query parameters as a filter (every pair must match)."""
    found = {}
    for name, value in pairs:
        match = _METADATA.match(name)
        if match is not None:
            found[match.group(1)] = value
    return found


async def keep(
    store: ChatCompletionStore,
    owner: str,
    api_key_id: str | None,
    request: ChatCompletionRequest,
    completion: ChatCompletion,
) -> None:
    """Store the completion of a request that asked for it."""
    messages = [
        {"role": m.role, "content": m.text() if m.content is not None else None, "name": m.name}
        for m in request.messages
    ]
    answer = completion.model_dump(mode="json", exclude={"file_search_results"})
    await store.add(owner, api_key_id, answer, messages, request.metadata or {})


def _object(stored: StoredCompletion) -> StoredChatCompletionObject:
    return StoredChatCompletionObject.model_validate(stored.completion)


async def list_completions(
    store: ChatCompletionStore, owner: str, query: StoredListQuery, metadata: Mapping[str, str]
) -> StoredChatCompletionList:
    rows, more = await store.page(
        owner,
        model=query.model,
        metadata=metadata,
        after=query.after,
        limit=query.limit,
        order=query.order,
    )
    data = [_object(r) for r in rows]
    return StoredChatCompletionList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def retrieve(
    store: ChatCompletionStore, owner: str, completion_id: str
) -> StoredChatCompletionObject:
    return _object(await store.get(owner, completion_id))


async def messages(
    store: ChatCompletionStore, owner: str, completion_id: str, query: MessageListQuery
) -> StoredMessageList:
    """A page of the request's messages, in order (or its reverse)."""
    stored = await store.get(owner, completion_id)
    listed = [
        StoredMessage(id=f"{completion_id}-{index}", **message)
        for index, message in enumerate(stored.messages)
    ]
    if query.order == "desc":
        listed.reverse()
    ids = [m.id for m in listed]
    if query.after in ids:  # an unknown cursor lists from the start, as the other lists do
        listed = listed[ids.index(query.after) + 1 :]
    page = listed[: query.limit]
    return StoredMessageList(
        data=page,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=len(listed) > query.limit,
    )
