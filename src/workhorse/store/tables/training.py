"""Fine-tuning: jobs, their events and checkpoints, the models they made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from workhorse.store.tables.base import Base, UTCDateTime


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
