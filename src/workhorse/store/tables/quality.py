"""The quality loop: feedback on answers, evals and their runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from workhorse.store.tables.base import Base, UTCDateTime


class FeedbackRecord(Base):
    """One rating of an answer; a subject rated again keeps its history, the newest
    rating is ``latest``."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_owner_seq", "owner", "seq"),
        Index("ix_feedback_subject", "owner", "subject_type", "subject_id"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(24))
    """``response``, ``chat_completion``, ``message`` or ``conversation_item``."""
    subject_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(256))
    """The model that answered (for filters)."""
    rating: Mapped[str] = mapped_column(String(8))
    """``up``, ``down``, or ``score``."""
    score: Mapped[float] = mapped_column(Float)
    """1 for up, 0 for down, else the score."""
    scale_min: Mapped[float | None] = mapped_column(Float)
    scale_max: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(Text)
    tags_json: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str] = mapped_column(Text)
    latest: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[int] = mapped_column(BigInteger)


class FeedbackTag(Base):
    """A tag of a feedback record (listings filter on them)."""

    __tablename__ = "feedback_tags"

    feedback_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("feedback.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Eval(Base):
    """An eval: the shape of its items and the criteria its runs grade them by."""

    __tablename__ = "evals"
    __table_args__ = (Index("ix_evals_owner_seq", "owner", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(256))
    data_source_config_json: Mapped[str] = mapped_column(Text)
    testing_criteria_json: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class EvalRun(Base):
    """A run of an eval over a data source: its state, its counts, and who holds it.

    The items to grade are fixed when the run is created (a JSON-lines file); each graded
    item is one ``eval_output_items`` row, and the counts here move in the same
    transaction as its insert, so a run resumed after a crash counts every item once.
    """

    __tablename__ = "eval_runs"
    __table_args__ = (Index("ix_eval_runs_eval_seq", "eval_id", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    eval_id: Mapped[str] = mapped_column(String(64), ForeignKey("evals.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    traceparent: Mapped[str | None] = mapped_column(String(55))
    name: Mapped[str] = mapped_column(String(256))
    model: Mapped[str | None] = mapped_column(String(400))
    data_source_json: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str] = mapped_column(Text)
    items_sha256: Mapped[str] = mapped_column(String(64))
    """The checksum of the run's items file (``<data dir>/evals/<run id>.jsonl``, one
    JSON object a line), checked when a worker reads it."""
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error_json: Mapped[str | None] = mapped_column(Text)
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    errored: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(32))
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)


class EvalRunCriterion(Base):
    """How many graded items one testing criterion passed and failed in a run."""

    __tablename__ = "eval_run_criteria"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)


class EvalRunUsage(Base):
    """The tokens one model spent on a run (generating samples, or grading them)."""

    __tablename__ = "eval_run_usage"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(400), primary_key=True)
    invocations: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)


class EvalOutputItem(Base):
    """One graded item of a run (at most one per item: the run's counts rely on it)."""

    __tablename__ = "eval_output_items"
    __table_args__ = (
        UniqueConstraint("run_id", "item_index"),
        Index("ix_eval_output_items_run_seq", "run_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("eval_runs.id", ondelete="CASCADE"))
    item_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8))
    """``pass``, ``fail`` or ``error``."""
    datasource_item_json: Mapped[str] = mapped_column(Text)
    results_json: Mapped[str] = mapped_column(Text)
    sample_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
