"""The quality loop: feedback on answers (and, later, evals)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from workhorse.store.tables.base import Base


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
    """``response``, ``chat_completion`` or ``conversation_item``."""
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
