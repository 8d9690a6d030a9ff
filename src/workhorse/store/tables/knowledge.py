"""Knowledge bases: vector stores, their files and batches, the chunks and the index state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from workhorse.store.tables.base import Base, UTCDateTime


class VectorStore(Base):
    """A vector store: a named set of files, chunked, embedded and indexed for search."""

    __tablename__ = "vector_stores"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    metadata_json: Mapped[str] = mapped_column(Text)
    chunking_json: Mapped[str] = mapped_column(Text)
    expires_after_days: Mapped[int | None] = mapped_column(Integer)
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VectorStoreFile(Base):
    """A file in a vector store and the state of its ingestion job."""

    __tablename__ = "vector_store_files"

    vector_store_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    """The key that added the file: its ingestion's embeddings are that key's usage."""
    traceparent: Mapped[str | None] = mapped_column(String(55))
    """The W3C trace context of the request that queued the job (its spans link to it)."""
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    last_error_json: Mapped[str | None] = mapped_column(Text)
    attributes_json: Mapped[str] = mapped_column(Text)
    chunking_json: Mapped[str] = mapped_column(Text)
    usage_bytes: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """While a worker holds the job; NULL while it waits in the queue."""
    claim_token: Mapped[str | None] = mapped_column(String(32))
    """The holder of the job: a worker that lost its lease can no longer renew or end it."""
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class VectorStoreFileBatch(Base):
    """Files added to a vector store together, followed and cancelled together."""

    __tablename__ = "vector_store_file_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector_store_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(40))
    cancelled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class _PgVector(UserDefinedType[Any]):
    """pgvector's ``vector`` without a fixed dimension (an HNSW index casts it to one)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


class KnowledgeChunk(Base):
    """One chunk of a file in a vector store: its text and its embedding.

    ``id`` is the key of the chunk in the approximate-nearest-neighbour index (never
    reused on SQLite). The embedding is float32 bytes on SQLite and pgvector's
    ``vector`` on PostgreSQL. Objects the ORM does not describe come from migration 0006:
    on SQLite the FTS5 table ``knowledge_chunks_fts`` and its triggers; on PostgreSQL the
    generated ``text_search`` tsvector column, its GIN index and (at start-up, per
    dimension) the HNSW index.
    """

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        UniqueConstraint("vector_store_id", "file_id", "chunk_index"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    vector_store_id: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[str] = mapped_column(String(64))
    chunk_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    dims: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary().with_variant(_PgVector(), "postgresql"))


class KnowledgeIndexState(Base):
    """A counter per vector store, bumped by every change to its chunks.

    A saved ANN index records the generation it was built at; a different one here
    means the file is stale and is rebuilt from the stored vectors.
    """

    __tablename__ = "knowledge_index_state"

    vector_store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
