"""Wire shapes of ``/v1/conversations`` (OpenAI's Conversations API)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from workhorse.api.conversations.items import InputItem, StoredItem
from workhorse.api.shared import Cursor, Includable

MAX_ITEMS_PER_REQUEST = 20

Metadata = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
    Field(max_length=16),
]
"""Up to 16 string pairs: keys of at most 64 characters, values of at most 512."""


class ConversationCreateRequest(BaseModel):
    """A new conversation, optionally with its first items."""

    model_config = ConfigDict(extra="forbid")

    items: list[InputItem] | None = Field(default=None, max_length=MAX_ITEMS_PER_REQUEST)
    metadata: Metadata | None = None


class ConversationUpdateRequest(BaseModel):
    """New metadata for a conversation (it replaces the old)."""

    model_config = ConfigDict(extra="forbid")

    metadata: Metadata


class ItemsCreateRequest(BaseModel):
    """Items to append to a conversation."""

    model_config = ConfigDict(extra="forbid")

    items: list[InputItem] = Field(min_length=1, max_length=MAX_ITEMS_PER_REQUEST)


class ConversationObject(BaseModel):
    """A conversation."""

    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]


class MetadataEntry(BaseModel):
    """One metadata pair."""

    key: str
    value: str


class ConversationSoapObject(BaseModel):
    """A conversation as SOAP returns it: metadata as a list of pairs.

    The SOAP writer (``http.xml.fill``) knows no schema, so it would write a map's keys as
    element names, which the WSDL's ``<item key="…">`` map type does not describe.
    """

    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: list[MetadataEntry]

    @classmethod
    def of(cls, conversation: ConversationObject) -> ConversationSoapObject:
        """The SOAP shape of ``conversation``."""
        return cls(
            id=conversation.id,
            created_at=conversation.created_at,
            metadata=[MetadataEntry(key=k, value=v) for k, v in conversation.metadata.items()],
        )


class ConversationDeleted(BaseModel):
    """The answer to a delete."""

    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


class ConversationItemList(BaseModel):
    """A page of a conversation's items."""

    object: Literal["list"] = "list"
    data: list[StoredItem]
    first_id: str | None
    last_id: str | None
    has_more: bool


class ItemListQuery(BaseModel):
    """Query parameters of ``GET /v1/conversations/{id}/items``."""

    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    include: list[Includable] | None = None
    """Accepted for compatibility; items are always returned whole."""
