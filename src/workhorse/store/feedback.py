"""Feedback records: a subject rated again keeps its history; the newest rating of each
subject is ``latest`` (set in the same transaction as the insert, restored on delete)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, exists, insert, select, text, update

from workhorse.errors import NotFound
from workhorse.store.db import Database
from workhorse.store.tables import FeedbackRecord, FeedbackTag

_F = cast(Table, FeedbackRecord.__table__)
_T = cast(Table, FeedbackTag.__table__)


@dataclass(frozen=True)
class Feedback:
    """One rating as stored."""

    id: str
    subject_type: str
    subject_id: str
    conversation_id: str | None
    model: str | None
    rating: str
    score: float
    scale_min: float | None
    scale_max: float | None
    comment: str | None
    correction: str | None
    tags: list[str]
    metadata: dict[str, str]
    latest: bool
    created_at: int
    api_key_id: str | None = None


@dataclass(frozen=True)
class FeedbackFilters:
    """What a listing keeps; every field given must match."""

    subject_type: str | None = None
    subject_id: str | None = None
    rating: str | None = None
    model: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    since: int | None = None
    until: int | None = None
    history: bool = False
    """Every rating, not only each subject's latest."""


def missing(feedback_id: str) -> NotFound:
    return NotFound(f"No feedback found with id '{feedback_id}'.", param="feedback_id")


def _feedback(row: Any) -> Feedback:
    return Feedback(
        id=row.id,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        conversation_id=row.conversation_id,
        model=row.model,
        rating=row.rating,
        score=row.score,
        scale_min=row.scale_min,
        scale_max=row.scale_max,
        comment=row.comment,
        correction=row.correction,
        tags=json.loads(row.tags_json),
        metadata=json.loads(row.metadata_json),
        latest=bool(row.latest),
        created_at=row.created_at,
        api_key_id=row.api_key_id,
    )


def _where(query: Any, owner: str, filters: FeedbackFilters) -> Any:
    query = query.where(_F.c.owner == owner)
    if not filters.history:
        query = query.where(_F.c.latest.is_(True))
    for name in ("subject_type", "subject_id", "rating", "model"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(_F.c[name] == value)
    for tag in filters.tags:
        query = query.where(exists().where(_T.c.feedback_id == _F.c.id, _T.c.tag == tag))
    if filters.since is not None:
        query = query.where(_F.c.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(_F.c.created_at < filters.until)
    return query


class FeedbackStore:
    """Add, read, list, export and delete a project's feedback."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, owner: str, feedback: Feedback) -> Feedback:
        """Store ``feedback`` as its subject's latest rating."""
        values = {
            "id": feedback.id,
            "owner": owner,
            "api_key_id": feedback.api_key_id,
            "subject_type": feedback.subject_type,
            "subject_id": feedback.subject_id,
            "conversation_id": feedback.conversation_id,
            "model": feedback.model,
            "rating": feedback.rating,
            "score": feedback.score,
            "scale_min": feedback.scale_min,
            "scale_max": feedback.scale_max,
            "comment": feedback.comment,
            "correction": feedback.correction,
            "tags_json": json.dumps(feedback.tags),
            "metadata_json": json.dumps(feedback.metadata),
            "latest": True,
            "created_at": feedback.created_at,
        }

        def work(conn: Connection) -> None:
            if conn.dialect.name == "postgresql":  # one rating of a subject at a time
                subject = f"{owner}/{feedback.subject_type}/{feedback.subject_id}"
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": subject})
            conn.execute(
                update(_F)
                .where(
                    _F.c.owner == owner,
                    _F.c.subject_type == feedback.subject_type,
                    _F.c.subject_id == feedback.subject_id,
                    _F.c.latest.is_(True),
                )
                .values(latest=False)
            )
            conn.execute(insert(_F).values(**values))
            if feedback.tags:
                conn.execute(
                    insert(_T), [{"feedback_id": feedback.id, "tag": t} for t in feedback.tags]
                )

        await self._db.write(work)
        return feedback

    async def get(self, owner: str, feedback_id: str) -> Feedback:
        query = select(_F).where(_F.c.id == feedback_id, _F.c.owner == owner)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise missing(feedback_id)
        return _feedback(row)

    async def page(
        self, owner: str, filters: FeedbackFilters, *, after: str | None, limit: int
    ) -> tuple[list[Feedback], bool]:
        """A page of feedback, newest first, after the record ``after``; and whether more
        follow (an unknown cursor lists from the start, as the other lists do)."""
        query = _where(select(_F), owner, filters)
        async with self._db.engine.connect() as conn:
            if after is not None:
                cursor = (
                    await conn.execute(
                        select(_F.c.seq).where(_F.c.id == after, _F.c.owner == owner)
                    )
                ).scalar_one_or_none()
                if cursor is not None:
                    query = query.where(_F.c.seq < cursor)
            rows = (await conn.execute(query.order_by(_F.c.seq.desc()).limit(limit + 1))).all()
        return [_feedback(r) for r in rows[:limit]], len(rows) > limit

    async def latest_of(
        self, owner: str, subject_type: str, subject_ids: Sequence[str]
    ) -> dict[str, Feedback]:
        """The latest rating of each of ``subject_ids`` that has one (one query)."""
        if not subject_ids:
            return {}
        query = select(_F).where(
            _F.c.owner == owner,
            _F.c.subject_type == subject_type,
            _F.c.subject_id.in_(list(subject_ids)),
            _F.c.latest.is_(True),
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.subject_id: _feedback(row) for row in rows}

    async def each(
        self, owner: str, filters: FeedbackFilters, *, batch: int = 500
    ) -> AsyncIterator[list[Feedback]]:
        """Every matching record, oldest first, ``batch`` at a time: one short query per
        batch (keyset by ``seq``), so memory stays flat however many there are."""
        last = 0
        while True:
            query = (
                _where(select(_F), owner, filters)
                .where(_F.c.seq > last)
                .order_by(_F.c.seq)
                .limit(batch)
            )
            async with self._db.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                return
            last = rows[-1].seq
            yield [_feedback(r) for r in rows]

    async def delete(self, owner: str, feedback_id: str) -> None:
        """Delete one rating; if it was its subject's latest, the one before it is."""

        def work(conn: Connection) -> bool:
            row = conn.execute(
                select(_F).where(_F.c.id == feedback_id, _F.c.owner == owner)
            ).first()
            if row is None:
                return False
            conn.execute(delete(_T).where(_T.c.feedback_id == feedback_id))
            conn.execute(delete(_F).where(_F.c.id == feedback_id))
            if row.latest:
                previous = conn.execute(
                    select(_F.c.seq)
                    .where(
                        _F.c.owner == owner,
                        _F.c.subject_type == row.subject_type,
                        _F.c.subject_id == row.subject_id,
                    )
                    .order_by(_F.c.seq.desc())
                    .limit(1)
                ).scalar()
                if previous is not None:
                    conn.execute(update(_F).where(_F.c.seq == previous).values(latest=True))
            return True

        if not await self._db.write(work):
            raise missing(feedback_id)
