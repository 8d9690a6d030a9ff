"""What clients store: files, uploads, conversations, responses and their events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from workhorse.store.tables.base import Base, UTCDateTime


class File(Base):
    """An uploaded file; its bytes live in the blob store under their SHA-256."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("owner", "sha256", "purpose"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(512))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Conversation(Base):
    """A conversation of the Conversations API; its items are in ``conversation_items``."""

    __tablename__ = "conversations"
    # The console lists a project's conversations newest first, page by page.
    __table_args__ = (Index("ix_conversations_owner_created", "owner", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    metadata_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConversationItem(Base):
    """One item of a conversation, in its normalised wire shape; ``seq`` is the order."""

    __tablename__ = "conversation_items"
    # AUTOINCREMENT on SQLite: a seq is never reused, even after the newest item is deleted.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    item_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ResponseRecord(Base):
    """A response of the Responses API: its state, its lease, the object as last built."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), index=True)
    background: Mapped[bool] = mapped_column(Boolean)
    stored: Mapped[bool] = mapped_column(Boolean)
    previous_response_id: Mapped[str | None] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    request_json: Mapped[str] = mapped_column(Text)
    input_json: Mapped[str] = mapped_column(Text)
    object_json: Mapped[str] = mapped_column(Text)
    next_seq: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ResponseEvent(Base):
    """One event of a response's stream, in order; the log a resumed stream reads."""

    __tablename__ = "response_events"

    response_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    sequence_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    data_json: Mapped[str] = mapped_column(Text)


class Upload(Base):
    """An upload of the Uploads API: a file sent in parts, assembled on completion."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    part_ids_json: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(40))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When a complete claimed it; a claim older than the lease was abandoned (a crash)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class UploadPart(Base):
    """One part of an upload; its bytes are a file under ``<data dir>/uploads/<upload id>``."""

    __tablename__ = "upload_parts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    upload_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("uploads.id", ondelete="CASCADE"), index=True
    )
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoredMessage(Base):
    """An Anthropic Messages API answer kept with ``store: true`` (Workhorse's extension),
    so that it can be rated: the request's system prompt and turns, and the answer."""

    __tablename__ = "stored_messages"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(256))
    input_json: Mapped[str] = mapped_column(Text)
    """The system prompt and the turns, as ``{"role", "content"}`` messages."""
    output_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class StoredChatCompletion(Base):
    """A chat completion created with ``store: true``: its request's messages and the
    answer as the client got it."""

    __tablename__ = "chat_completions"
    __table_args__ = (Index("ix_chat_completions_owner_seq", "owner", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    """Order of creation: listings and their cursors."""
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)
    """Unix seconds, as the completion's ``created``."""
    metadata_json: Mapped[str] = mapped_column(Text)
    messages_json: Mapped[str] = mapped_column(Text)
    """The request's messages, in order."""
    completion_json: Mapped[str] = mapped_column(Text)


class ChatCompletionMetadata(Base):
    """One ``metadata`` pair of a stored chat completion (listings filter on them)."""

    __tablename__ = "chat_completion_metadata"

    completion_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("chat_completions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(512), index=True)
