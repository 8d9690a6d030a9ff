"""Conversation items, shared by the Conversations and Responses APIs.

Clients send items loosely (a message's ``content`` may be a plain string, ``type`` may be
left out); every item is stored in one normalised shape with an id and a status, which is
also the shape returned on the wire:

- ``message``: role, and content parts (``input_text`` for user, system and developer
  messages, ``output_text`` with ``annotations`` for assistant ones);
- ``function_call``: a tool call the model made (call_id, name, JSON arguments);
- ``function_call_output``: the caller's answer to one (call_id, output).

``to_chat_messages`` turns stored items into the model-neutral chat messages.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from workhorse.providers.base import ChatMessage, ToolCall

MAX_TEXT = 1_000_000

ItemStatus = Literal["in_progress", "completed", "incomplete"]
StoredItem = dict[str, Any]
"""An item in its normalised wire shape (JSON-ready)."""


class InputText(BaseModel):
    """Text written by the user, system or developer."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["input_text"]
    text: str = Field(max_length=MAX_TEXT)


class OutputText(BaseModel):
    """Text written by the model."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["output_text"]
    text: str = Field(max_length=MAX_TEXT)
    annotations: list[dict[str, Any]] = []
    logprobs: list[dict[str, Any]] | None = None


ContentPart = Annotated[InputText | OutputText, Field(discriminator="type")]


class MessageItem(BaseModel):
    """A message; ``content`` may be a plain string."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["message"] = "message"
    id: str | None = Field(default=None, max_length=128)
    role: Literal["user", "assistant", "system", "developer"]
    content: (
        Annotated[str, Field(max_length=MAX_TEXT)]
        | Annotated[list[ContentPart], Field(max_length=1024)]
    )
    status: ItemStatus | None = None

    def text(self) -> str:
        """The message's text, parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class FunctionCallItem(BaseModel):
    """A call of a function tool, made by the model."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function_call"]
    id: str | None = Field(default=None, max_length=128)
    call_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=128)
    arguments: str = Field(max_length=MAX_TEXT)
    status: ItemStatus | None = None


class FunctionCallOutputItem(BaseModel):
    """The caller's result for a function call."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function_call_output"]
    id: str | None = Field(default=None, max_length=128)
    call_id: str = Field(min_length=1, max_length=128)
    output: str = Field(max_length=MAX_TEXT)
    status: ItemStatus | None = None


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "tag:" + str(value.get("type", "message"))
    return "tag:" + str(getattr(value, "type", "message"))


# Tags start with "tag:" so that error paths leave them out (see http.errors.param_path).
InputItem = Annotated[
    Annotated[MessageItem, Tag("tag:message")]
    | Annotated[FunctionCallItem, Tag("tag:function_call")]
    | Annotated[FunctionCallOutputItem, Tag("tag:function_call_output")],
    Discriminator(
        _item_kind,
        custom_error_type="invalid_item_type",
        custom_error_message="type must be message, function_call or function_call_output",
    ),
]
"""One item as a client sends it."""

_ID_PREFIX = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "file_search_call": "fs_",
}


def new_item_id(kind: str) -> str:
    """A fresh id for an item of ``kind``."""
    return _ID_PREFIX[kind] + secrets.token_hex(16)


def normalise(item: MessageItem | FunctionCallItem | FunctionCallOutputItem) -> StoredItem:
    """The stored shape of a client's item, with a fresh id (client ids are not trusted)."""
    if isinstance(item, MessageItem):
        kind = "output_text" if item.role == "assistant" else "input_text"
        parts: list[dict[str, Any]]
        if isinstance(item.content, str):
            parts = [text_part(kind, item.content)]
        else:
            parts = [text_part(kind, part.text) for part in item.content]
        return {
            "type": "message",
            "id": new_item_id("message"),
            "status": item.status or "completed",
            "role": item.role,
            "content": parts,
        }
    stored = item.model_dump(exclude_none=True)
    stored["id"] = new_item_id(item.type)
    stored["status"] = item.status or "completed"
    return stored


def text_part(kind: str, text: str) -> dict[str, Any]:
    """One content part in its wire shape."""
    if kind == "output_text":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "input_text", "text": text}


def assistant_message(text: str, *, status: ItemStatus = "completed") -> StoredItem:
    """A model's answer as a stored message item."""
    return {
        "type": "message",
        "id": new_item_id("message"),
        "status": status,
        "role": "assistant",
        "content": [text_part("output_text", text)],
    }


def item_text(item: StoredItem) -> str:
    """The text of a stored message item."""
    return "".join(str(part.get("text", "")) for part in item.get("content", []))


def to_chat_messages(items: list[StoredItem]) -> list[ChatMessage]:
    """Stored items as chat messages; consecutive function calls join one assistant turn."""
    messages: list[ChatMessage] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            role = item["role"]
            messages.append(
                ChatMessage(role="system" if role == "developer" else role, content=item_text(item))
            )
        elif kind == "function_call":
            call = ToolCall(item["call_id"], item["name"], item["arguments"])
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and last.tool_calls:
                messages[-1] = ChatMessage(
                    "assistant", last.content, tool_calls=(*last.tool_calls, call)
                )
            else:
                messages.append(ChatMessage("assistant", "", tool_calls=(call,)))
        elif kind == "function_call_output":
            messages.append(ChatMessage("tool", item["output"], tool_call_id=item["call_id"]))
    return messages
