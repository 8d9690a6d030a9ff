"""Who may call and what they spent: projects, keys, idempotency, limits, usage, request records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from workhorse.store.tables.base import Base, UTCDateTime


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


class ConsoleSession(Base):
    """A signed-in session of the web console: the API key it was opened with, its CSRF
    token, its expiry. Only the SHA-256 hash of the cookie's token is stored."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
