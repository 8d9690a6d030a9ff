"""What the model sees for a response: instructions, history, input; fitted to its context.

With ``truncation: auto`` the oldest items are dropped until the prompt and the room for
the answer fit the model's context (found by bisection over exact token counts); the
response reports how many were dropped. With ``truncation: disabled`` an over-long
prompt is a 400 ``context_length_exceeded``.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from workhorse.api.conversations.items import StoredItem, to_chat_messages
from workhorse.errors import ContextLengthExceeded
from workhorse.providers.base import ChatMessage, ChatModel, GenerationParams, ToolCall, ToolSpec


def messages_for(instructions: str | None, items: list[StoredItem]) -> list[ChatMessage]:
    """The chat messages of ``items``, after the instructions as a system message."""
    head = [ChatMessage("system", instructions)] if instructions else []
    return head + to_chat_messages(items)


async def fit(
    model: ChatModel,
    params: GenerationParams,
    *,
    instructions: str | None,
    items: list[StoredItem],
    reserve: int,
) -> tuple[GenerationParams, int]:
    """``params`` with the fewest oldest items dropped so that the prompt leaves ``reserve``
    tokens of the context for the answer, and how many were dropped."""
    window = model.context_window
    if window is None:  # an upstream: it knows its own limit and says so
        return params, 0
    budget = window - min(reserve, window // 2)

    async def fits(dropped: int) -> bool:
        tokens = await model.count_tokens(messages_for(instructions, items[dropped:]))
        return tokens <= budget

    if await fits(0):
        return params, 0
    low, high = 1, len(items) - 1  # the newest item always stays
    if high < low or not await fits(high):
        raise ContextLengthExceeded(
            f"The input does not fit the context of {window} tokens of model {model.id!r}, "
            "even with every earlier item dropped.",
            param="input",
        )
    while low < high:
        middle = (low + high) // 2
        if await fits(middle):
            high = middle
        else:
            low = middle + 1
    return replace(params, messages=messages_for(instructions, items[low:])), low


def params_to_json(params: GenerationParams) -> dict[str, Any]:
    """``params`` as stored, so that another process can run the generation again."""
    return asdict(params)


def params_from_json(data: dict[str, Any]) -> GenerationParams:
    """The inverse of ``params_to_json``."""
    messages = [
        ChatMessage(
            role=m["role"],
            content=m["content"],
            tool_calls=tuple(ToolCall(**c) for c in m.get("tool_calls", ())),
            tool_call_id=m.get("tool_call_id"),
        )
        for m in data["messages"]
    ]
    tools = [ToolSpec(**t) for t in data.get("tools", [])]
    fields = {k: v for k, v in data.items() if k not in ("messages", "tools")}
    return GenerationParams(messages=messages, tools=tools, **fields)
