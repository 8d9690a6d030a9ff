"""Table definitions. Changes here come with an Alembic migration in ``migrations/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    """A project: owns resources; its keys see them, other projects' keys do not."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    limits_json: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """An API key of a project; only SHA-256 hashes of its secrets are stored.

    ``previous_key_hash`` is the secret a rotation replaced, valid until
    ``previous_valid_until`` (the grace period chosen at rotation).
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(256))
    models_json: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    limits_json: Mapped[str | None] = mapped_column(Text)


class Marker(Base):
    """One-time facts claimed atomically across processes (e.g. the bootstrap key)."""

    __tablename__ = "markers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """One Idempotency-Key claim and, once finished, the response to replay."""

    __tablename__ = "idempotency_records"

    scope_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    headers_json: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


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
    conversation_id: Mapped[str | None] = mapped_column(String(64))
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


class FineTuningJob(Base):
    """A fine-tuning job: its request, its state, and who holds it while it runs.

    ``control`` carries a cancel or pause asked for by any process; the worker that holds
    the job reads it while training. Checkpoints and the result live on disk under
    ``<data dir>/fine_tuning/<job id>``.
    """

    __tablename__ = "fine_tuning_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    traceparent: Mapped[str | None] = mapped_column(String(55))
    """The W3C trace context of the request that created the job (its spans link to it)."""
    model: Mapped[str] = mapped_column(String(256))
    training_file: Mapped[str] = mapped_column(String(40))
    validation_file: Mapped[str | None] = mapped_column(String(40))
    hyperparameters_json: Mapped[str] = mapped_column(Text)
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    metadata_json: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), index=True)
    control: Mapped[str | None] = mapped_column(String(16))
    error_json: Mapped[str | None] = mapped_column(Text)
    fine_tuned_model: Mapped[str | None] = mapped_column(String(400))
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(32))
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FineTuningEvent(Base):
    """One event of a job (a message, or a step's metrics), in order of ``seq``."""

    __tablename__ = "fine_tuning_events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    job_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FineTuningCheckpoint(Base):
    """The adapter at the end of an epoch; usable as a model under its own name."""

    __tablename__ = "fine_tuning_checkpoints"
    __table_args__ = (UniqueConstraint("job_id", "step"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(400), unique=True)
    adapter_path: Mapped[str] = mapped_column(Text)
    metrics_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FineTunedModel(Base):
    """A model made by a job: the base GGUF model with a LoRA adapter."""

    __tablename__ = "fine_tuned_models"

    id: Mapped[str] = mapped_column(String(400), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    job_id: Mapped[str] = mapped_column(String(40))
    base_model: Mapped[str] = mapped_column(String(256))
    adapter_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LimitEvent(Base):
    """The sliding log of the per-minute limits: one admitted request, or the tokens one
    generation reserved (settled to its real count when it ends)."""

    __tablename__ = "limit_events"
    __table_args__ = (Index("ix_limit_events_subject_kind_at", "subject", "kind", "at_ms"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject: Mapped[str] = mapped_column(String(48))
    """``key:<id>`` or ``project:<id>``."""
    kind: Mapped[str] = mapped_column(String(8))
    """``requests`` or ``tokens``."""
    at_ms: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    reservation: Mapped[str | None] = mapped_column(String(80), index=True)


class LimitLease(Base):
    """A request running under a concurrency limit; gone when it ends (or expired)."""

    __tablename__ = "limit_leases"

    subject: Mapped[str] = mapped_column(String(48), primary_key=True)
    reservation: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class BudgetUse(Base):
    """Tokens a subject spent (or holds reserved) in one budget period."""

    __tablename__ = "budget_use"

    subject: Mapped[str] = mapped_column(String(48), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    """``2026-12-03`` (a day) or ``2026-12`` (a month), UTC."""
    used: Mapped[int] = mapped_column(BigInteger)


class TokenReservation(Base):
    """The tokens one generation reserved, on which subjects, until it is settled."""

    __tablename__ = "token_reservations"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    reserved: Mapped[int] = mapped_column(BigInteger)
    subjects_json: Mapped[str] = mapped_column(Text)
    """``[[subject, budget period or null, counts toward tpm], ...]``."""
    at_ms: Mapped[int] = mapped_column(BigInteger)
    settled: Mapped[int | None] = mapped_column(BigInteger)


class UsageRecord(Base):
    """What one key spent on one model and API in one UTC minute."""

    __tablename__ = "usage_records"

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(400), primary_key=True)
    """The model, or ``""`` for requests that name none."""
    api: Mapped[str] = mapped_column(String(16), primary_key=True)
    """``completions``, ``embeddings``, ``fine_tuning``, ``files`` or ``http``."""
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """Unix seconds of the minute's start."""
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    model_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    trained_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class RequestRecord(Base):
    """One request the server answered, for the request inspector (``obs.inspector``):
    kept by count and age, oldest dropped first."""

    __tablename__ = "request_records"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    """Order of writing: the list's cursor."""
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    trace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    """When the request arrived, Unix milliseconds."""
    method: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(256))
    """The route template (``/v1/files/{file_id}``), or ``unmatched``."""
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    content_type: Mapped[str | None] = mapped_column(String(256))
    bytes_in: Mapped[int] = mapped_column(BigInteger)
    bytes_out: Mapped[int] = mapped_column(BigInteger)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    api_key_name: Mapped[str | None] = mapped_column(String(256))
    project_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(400))
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    idempotency: Mapped[str | None] = mapped_column(String(24))
    """The Idempotency-Key outcome: claimed, replayed, conflict, mismatch, invalid,
    expired_takeover; none without a key."""
    client_retries: Mapped[int] = mapped_column(Integer)
    disconnected: Mapped[bool] = mapped_column(Boolean)
    """The client went away before the whole response was sent."""
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_param: Mapped[str | None] = mapped_column(String(256))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_json: Mapped[str | None] = mapped_column(Text)
    """The resources the request created: ``[{"object", "id", "url"}]``."""
    captured_json: Mapped[str | None] = mapped_column(Text)
    """Redacted headers and bodies, on routes an operator chose to capture."""
