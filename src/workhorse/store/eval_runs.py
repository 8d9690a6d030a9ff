"""Eval runs, as clients see them and as workers hold them.

A run moves ``queued`` → ``in_progress`` → ``completed`` | ``failed``, or to ``canceled``
when a client asks. Like the other jobs, a run is held by one worker at a time under a
lease and a claim token; ``stale`` finds runs whose worker died or whose queue entry was
lost. A cancel is written here by whichever process received it; the holder reads the
status with every heartbeat and stops. Graded items and the counts live in
``store.eval_items``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, delete, or_, select, update
from sqlalchemy.engine import Connection

from workhorse.errors import NotFound
from workhorse.store.db import Database
from workhorse.store.tables import EvalRun, EvalRunCriterion

_R = cast(Table, EvalRun.__table__)
_C = cast(Table, EvalRunCriterion.__table__)

QUEUED, IN_PROGRESS, COMPLETED, FAILED, CANCELED = (
    "queued",
    "in_progress",
    "completed",
    "failed",
    "canceled",
)
ACTIVE = (QUEUED, IN_PROGRESS)
"""States in which a worker should be running the run."""
ENDED = (COMPLETED, FAILED, CANCELED)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunRecord:
    """A run as stored, with its item counts."""

    id: str
    eval_id: str
    owner: str
    name: str
    model: str | None
    data_source: dict[str, Any]
    metadata: dict[str, str]
    items_sha256: str
    total: int
    status: str
    error: dict[str, Any] | None
    passed: int
    failed: int
    errored: int
    attempts: int
    created_at: int
    finished_at: int | None
    api_key_id: str | None
    traceparent: str | None


def _run(row: Row[Any]) -> RunRecord:
    r = row._mapping
    return RunRecord(
        r["id"],
        r["eval_id"],
        r["owner"],
        r["name"],
        r["model"],
        json.loads(r["data_source_json"]),
        json.loads(r["metadata_json"]),
        r["items_sha256"],
        r["total"],
        r["status"],
        json.loads(r["error_json"]) if r["error_json"] else None,
        r["passed"],
        r["failed"],
        r["errored"],
        r["attempts"],
        r["created_at"],
        r["finished_at"],
        r["api_key_id"],
        r["traceparent"],
    )


def new_run_id() -> str:
    return "evalrun_" + secrets.token_hex(16)


def missing_run(run_id: str) -> NotFound:
    return NotFound(f"No eval run found with id '{run_id}'.", param="run_id")


@dataclass(frozen=True)
class NewRun:
    """What a client's request fixes about a run."""

    id: str
    eval_id: str
    name: str
    model: str | None
    data_source: dict[str, Any]
    metadata: dict[str, str]
    items_sha256: str
    """The checksum of the run's items file."""
    total: int
    criteria: list[str]
    """The names of the eval's testing criteria, in order."""
    api_key_id: str | None
    traceparent: str | None


class EvalRunStore:
    """Runs (owner-scoped for clients) and run claims (for workers)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- as clients see them ----------------------------------------------------------

    async def create(self, owner: str, new: NewRun) -> RunRecord:
        """A new run, ``queued``, with a zero count for each testing criterion."""
        now = _now()
        run_id = new.id

        def work(conn: Connection) -> RunRecord:
            row = conn.execute(
                _R.insert()
                .values(
                    id=run_id,
                    eval_id=new.eval_id,
                    owner=owner,
                    api_key_id=new.api_key_id,
                    traceparent=new.traceparent,
                    name=new.name,
                    model=new.model,
                    data_source_json=json.dumps(new.data_source),
                    metadata_json=json.dumps(new.metadata),
                    items_sha256=new.items_sha256,
                    total=new.total,
                    status=QUEUED,
                    passed=0,
                    failed=0,
                    errored=0,
                    attempts=0,
                    enqueued_at=now,
                    created_at=int(now.timestamp()),
                )
                .returning(*_R.c)
            ).one()
            if new.criteria:
                conn.execute(
                    _C.insert(),
                    [
                        {"run_id": run_id, "position": i, "name": n, "passed": 0, "failed": 0}
                        for i, n in enumerate(new.criteria)
                    ],
                )
            return _run(row)

        return await self._db.write(work)

    async def get(self, owner: str | None, eval_id: str | None, run_id: str) -> RunRecord:
        """The run (of ``eval_id`` and ``owner`` when given)."""
        query = select(_R).where(_R.c.id == run_id)
        if owner is not None:
            query = query.where(_R.c.owner == owner)
        if eval_id is not None:
            query = query.where(_R.c.eval_id == eval_id)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise missing_run(run_id)
        return _run(row)

    async def page(
        self,
        owner: str,
        eval_id: str,
        *,
        status: str | None,
        after: str | None,
        limit: int,
        ascending: bool,
    ) -> tuple[list[RunRecord], bool]:
        query = select(_R).where(_R.c.owner == owner, _R.c.eval_id == eval_id)
        if status is not None:
            query = query.where(_R.c.status == status)
        async with self._db.engine.connect() as conn:
            if after is not None:
                seq = (
                    await conn.execute(
                        select(_R.c.seq).where(_R.c.id == after, _R.c.eval_id == eval_id)
                    )
                ).scalar_one_or_none()
                if seq is not None:
                    query = query.where(_R.c.seq > seq if ascending else _R.c.seq < seq)
            order = _R.c.seq.asc() if ascending else _R.c.seq.desc()
            rows = (await conn.execute(query.order_by(order).limit(limit + 1))).all()
        return [_run(r) for r in rows[:limit]], len(rows) > limit

    async def criteria(self, run_id: str) -> list[tuple[str, int, int]]:
        """``(name, passed, failed)`` of each testing criterion, in the eval's order."""
        query = (
            select(_C.c.name, _C.c.passed, _C.c.failed)
            .where(_C.c.run_id == run_id)
            .order_by(_C.c.position)
        )
        async with self._db.engine.connect() as conn:
            return [(str(n), int(p), int(f)) for n, p, f in (await conn.execute(query)).all()]

    async def cancel(self, owner: str, eval_id: str, run_id: str) -> RunRecord:
        """Cancel a queued or running run (an ended one is left as it is)."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(_R)
                .where(
                    _R.c.id == run_id,
                    _R.c.owner == owner,
                    _R.c.eval_id == eval_id,
                    _R.c.status.in_(ACTIVE),
                )
                .values(status=CANCELED, finished_at=int(time.time()))
            )

        await self._db.write(work)
        return await self.get(owner, eval_id, run_id)

    async def delete(self, owner: str, eval_id: str, run_id: str) -> None:
        def work(conn: Connection) -> int:
            return conn.execute(
                delete(_R).where(_R.c.id == run_id, _R.c.owner == owner, _R.c.eval_id == eval_id)
            ).rowcount

        if not await self._db.write(work):
            raise missing_run(run_id)

    # -- as workers hold them ---------------------------------------------------------

    async def claim(self, run_id: str, lease: timedelta) -> tuple[RunRecord, str, bool] | None:
        """Give the run to the caller until ``lease`` from now, with the token that proves
        it, and whether it was taken over from a holder that died; None when it is not
        waiting to run, or another worker holds it."""
        now = _now()
        token = secrets.token_hex(16)

        def work(conn: Connection) -> tuple[Row[Any] | None, bool]:
            held_before = conn.execute(select(_R.c.claim_token).where(_R.c.id == run_id)).scalar()
            return conn.execute(
                update(_R)
                .where(
                    _R.c.id == run_id,
                    _R.c.status.in_(ACTIVE),
                    or_(_R.c.lease_expires_at.is_(None), _R.c.lease_expires_at < now),
                )
                .values(
                    status=IN_PROGRESS,
                    lease_expires_at=now + lease,
                    claim_token=token,
                    attempts=_R.c.attempts + 1,
                )
                .returning(*_R.c)
            ).first(), held_before is not None

        row, taken_over = await self._db.write(work)
        return (_run(row), token, taken_over) if row is not None else None

    async def heartbeat(self, run_id: str, token: str, lease: timedelta) -> bool:
        """Extend the holder's lease; False when the run was canceled, deleted or taken
        over (the holder stops)."""

        def work(conn: Connection) -> bool:
            return bool(
                conn.execute(
                    update(_R)
                    .where(_R.c.id == run_id, _R.c.claim_token == token, _R.c.status == IN_PROGRESS)
                    .values(lease_expires_at=_now() + lease)
                ).rowcount
            )

        return await self._db.write(work)

    async def finish(
        self, run_id: str, token: str, status: str, error: dict[str, Any] | None = None
    ) -> bool:
        """End the held run (False if it was canceled or taken over meanwhile)."""

        def work(conn: Connection) -> bool:
            return bool(
                conn.execute(
                    update(_R)
                    .where(_R.c.id == run_id, _R.c.claim_token == token, _R.c.status == IN_PROGRESS)
                    .values(
                        status=status,
                        error_json=json.dumps(error) if error is not None else None,
                        finished_at=int(time.time()),
                        lease_expires_at=None,
                        claim_token=None,
                    )
                ).rowcount
            )

        return await self._db.write(work)

    async def release(self, run_id: str, token: str) -> None:
        """Let go of the run (it runs again when queued, from its first ungraded item)."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(_R)
                .where(_R.c.id == run_id, _R.c.claim_token == token)
                .values(lease_expires_at=None, claim_token=None, enqueued_at=_now())
            )

        await self._db.write(work)

    async def stale(self, requeue_after: timedelta) -> list[str]:
        """Runs meant to run that no live worker holds: their lease ran out, or they were
        queued long ago and never claimed (the queue entry was lost)."""
        now = _now()
        query = select(_R.c.id).where(
            _R.c.status.in_(ACTIVE),
            or_(
                _R.c.lease_expires_at < now,
                (_R.c.lease_expires_at.is_(None)) & (_R.c.enqueued_at < now - requeue_after),
            ),
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [str(r[0]) for r in rows]

    async def mark_enqueued(self, run_id: str) -> None:
        """Record that the run was put on the queue again now."""
        await self._db.write(
            lambda conn: conn.execute(
                update(_R).where(_R.c.id == run_id).values(enqueued_at=_now())
            )
        )
