"""Fine-tuning jobs, their events and checkpoints.

A job moves ``validating_files`` → ``running`` → ``succeeded`` | ``failed``, or to
``cancelled`` or ``paused`` when a client asks (``queued`` again on resume). Like
ingestion jobs, a job is held by one worker at a time under a lease and a claim token;
``stale`` finds jobs whose worker died or whose queue entry was lost. Cancel and pause
are written here by whichever process received them; the holder reads the status with
every heartbeat and stops its run.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from workhorse.obs.tracing import current_traceparent
from workhorse.store.db import Database
from workhorse.store.tables import (
    FineTuningCheckpoint,
    FineTuningEvent,
    FineTuningJob,
    UTCDateTime,
)

_J = cast(Table, FineTuningJob.__table__)
_E = cast(Table, FineTuningEvent.__table__)
_C = cast(Table, FineTuningCheckpoint.__table__)

VALIDATING, QUEUED, RUNNING, PAUSED = "validating_files", "queued", "running", "paused"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
ACTIVE = (VALIDATING, QUEUED, RUNNING)
"""States in which a worker should be running the job."""
ENDED = (SUCCEEDED, FAILED, CANCELLED)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobRecord:
    """A fine-tuning job as stored."""

    id: str
    owner: str
    model: str
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    status: str
    error: dict[str, Any] | None
    fine_tuned_model: str | None
    trained_tokens: int | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    api_key_id: str | None = None
    """The key that created it: who pays for its trained tokens."""
    traceparent: str | None = None
    """The trace context of the request that created it."""


def new_job_id() -> str:
    return "ftjob-" + secrets.token_hex(12)


def training_reservation(job_id: str) -> str:
    """The token reservation a job holds until it ends (its trained tokens settle it)."""
    return f"train_{job_id}"


def _job(row: Row[Any]) -> JobRecord:
    r = row._mapping
    return JobRecord(
        r["id"],
        r["owner"],
        r["model"],
        r["training_file"],
        r["validation_file"],
        json.loads(r["hyperparameters_json"]),
        r["suffix"],
        r["seed"],
        json.loads(r["metadata_json"]) if r["metadata_json"] else None,
        r["status"],
        json.loads(r["error_json"]) if r["error_json"] else None,
        r["fine_tuned_model"],
        r["trained_tokens"],
        r["attempts"],
        r["created_at"],
        r["finished_at"],
        r["api_key_id"],
        r["traceparent"],
    )


@dataclass(frozen=True)
class EventRecord:
    """One job event."""

    id: str
    level: str
    type: str
    message: str
    data: dict[str, Any] | None
    created_at: datetime


def _event(row: Row[Any]) -> EventRecord:
    r = row._mapping
    data = json.loads(r["data_json"]) if r["data_json"] else None
    return EventRecord(r["id"], r["level"], r["type"], r["message"], data, r["created_at"])


@dataclass(frozen=True)
class CheckpointRecord:
    """An epoch's adapter."""

    id: str
    job_id: str
    step: int
    model: str
    adapter_path: str
    metrics: dict[str, Any]
    created_at: datetime


def _checkpoint(row: Row[Any]) -> CheckpointRecord:
    r = row._mapping
    return CheckpointRecord(
        r["id"],
        r["job_id"],
        r["step"],
        r["model"],
        r["adapter_path"],
        json.loads(r["metrics_json"]),
        r["created_at"],
    )


class FineTuningStore:
    """Jobs (owner-scoped for clients), their events, checkpoints and job claims."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    # -- jobs, as clients see them -------------------------------------------------------

    async def create(
        self,
        owner: str,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        hyperparameters: dict[str, Any],
        suffix: str | None,
        seed: int,
        metadata: dict[str, str] | None,
        job_id: str | None = None,
        api_key_id: str | None = None,
    ) -> JobRecord:
        """A new job, ``validating_files``, waiting for a worker."""
        now = _now()
        statement = (
            _J.insert()
            .values(
                id=job_id or new_job_id(),
                owner=owner,
                api_key_id=api_key_id,
                traceparent=current_traceparent(),
                model=model,
                training_file=training_file,
                validation_file=validation_file,
                hyperparameters_json=json.dumps(hyperparameters),
                suffix=suffix,
                seed=seed,
                metadata_json=json.dumps(metadata) if metadata is not None else None,
                status=VALIDATING,
                attempts=0,
                enqueued_at=now,
                created_at=now,
            )
            .returning(*_J.c)
        )
        return await self._db.write(lambda conn: _job(conn.execute(statement).one()))

    async def get(self, owner: str | None, job_id: str) -> JobRecord | None:
        """The owner's job (any owner's when ``owner`` is None), or None."""
        query = select(_J).where(_J.c.id == job_id)
        if owner is not None:
            query = query.where(_J.c.owner == owner)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _job(row) if row is not None else None

    async def page(
        self, owner: str, *, limit: int, after: str | None, metadata: dict[str, str] | None
    ) -> tuple[list[JobRecord], bool]:
        """The owner's jobs, newest first, after the job ``after``; and whether more follow."""
        query = select(_J).where(_J.c.owner == owner)
        if after is not None:
            cursor = await self.get(owner, after)
            if cursor is not None:
                query = query.where(
                    tuple_(_J.c.created_at, _J.c.id)
                    < tuple_(literal(cursor.created_at, UTCDateTime()), literal(cursor.id))
                )
        query = query.order_by(_J.c.created_at.desc(), _J.c.id.desc())
        async with self._db.engine.connect() as conn:
            rows = (
                (await conn.execute(query)).all()
                if metadata
                else (await conn.execute(query.limit(limit + 1))).all()
            )
        jobs = [_job(r) for r in rows]
        if metadata:
            jobs = [j for j in jobs if j.metadata and metadata.items() <= j.metadata.items()]
        return jobs[:limit], len(jobs) > limit

    async def cancel(self, owner: str, job_id: str) -> JobRecord | None:
        """Cancel a job that has not ended; the job as it stands after, or None."""
        return await self._transition(
            owner, job_id, (*ACTIVE, PAUSED), {"status": CANCELLED, "finished_at": _now()}
        )

    async def pause(self, owner: str, job_id: str) -> JobRecord | None:
        """Pause a job that is waiting or running; its holder saves where it stands."""
        return await self._transition(owner, job_id, ACTIVE, {"status": PAUSED})

    async def resume(self, owner: str, job_id: str) -> JobRecord | None:
        """Queue a paused job again."""
        return await self._transition(
            owner, job_id, (PAUSED,), {"status": QUEUED, "enqueued_at": _now()}
        )

    async def _transition(
        self, owner: str, job_id: str, allowed: tuple[str, ...], values: dict[str, Any]
    ) -> JobRecord | None:
        def work(conn: Connection) -> JobRecord | None:
            conn.execute(
                update(_J)
                .where(_J.c.id == job_id, _J.c.owner == owner, _J.c.status.in_(allowed))
                .values(**values)
            )
            row = conn.execute(select(_J).where(_J.c.id == job_id, _J.c.owner == owner)).first()
            return _job(row) if row is not None else None

        return await self._db.write(work)

    # -- jobs, as workers hold them -------------------------------------------------------

    async def claim(self, job_id: str, lease: timedelta) -> tuple[JobRecord, str, bool] | None:
        """Give the job to the caller until ``lease`` from now, with the token that proves
        it, and whether it was taken over from a holder whose lease ran out; None when it
        is not waiting to run, or another worker holds it."""
        now = _now()
        token = secrets.token_hex(16)

        def work(conn: Connection) -> tuple[Row[Any] | None, bool]:
            # A holder that let go cleared its token; one that died left it.
            held_before = conn.execute(select(_J.c.claim_token).where(_J.c.id == job_id)).scalar()
            return conn.execute(
                update(_J)
                .where(
                    _J.c.id == job_id,
                    _J.c.status.in_(ACTIVE),
                    or_(_J.c.lease_expires_at.is_(None), _J.c.lease_expires_at < now),
                )
                .values(lease_expires_at=now + lease, claim_token=token, attempts=_J.c.attempts + 1)
                .returning(*_J.c)
            ).first(), held_before is not None

        row, taken_over = await self._db.write(work)
        return (_job(row), token, taken_over) if row is not None else None

    async def heartbeat(self, job_id: str, token: str, lease: timedelta) -> str | None:
        """Extend the holder's lease; the job's status, or None when the caller no longer
        holds it (taken over after its lease ran out)."""

        def work(conn: Connection) -> str | None:
            conn.execute(
                update(_J)
                .where(_J.c.id == job_id, _J.c.claim_token == token, _J.c.status.in_(ACTIVE))
                .values(lease_expires_at=_now() + lease)
            )
            row = conn.execute(
                select(_J.c.status).where(_J.c.id == job_id, _J.c.claim_token == token)
            ).first()
            return str(row[0]) if row is not None else None

        return await self._db.write(work)

    async def update_held(self, job_id: str, token: str, **values: Any) -> bool:
        """Change the job if the caller holds it and it is still meant to run."""

        def work(conn: Connection) -> bool:
            row = conn.execute(
                update(_J)
                .where(_J.c.id == job_id, _J.c.claim_token == token, _J.c.status.in_(ACTIVE))
                .values(**values)
                .returning(_J.c.id)
            ).first()
            return row is not None

        return await self._db.write(work)

    async def finish(
        self,
        job_id: str,
        token: str,
        status: str,
        *,
        error: dict[str, Any] | None = None,
        fine_tuned_model: str | None = None,
        trained_tokens: int | None = None,
    ) -> bool:
        """End the held job (False if it was cancelled or taken over meanwhile)."""
        return await self.update_held(
            job_id,
            token,
            status=status,
            error_json=json.dumps(error) if error is not None else None,
            fine_tuned_model=fine_tuned_model,
            trained_tokens=trained_tokens,
            finished_at=_now(),
            lease_expires_at=None,
            claim_token=None,
        )

    async def release(self, job_id: str, token: str) -> None:
        """Let go of the job (it runs again when queued, from its newest checkpoint)."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(_J)
                .where(_J.c.id == job_id, _J.c.claim_token == token)
                .values(lease_expires_at=None, claim_token=None, enqueued_at=_now())
            )

        await self._db.write(work)

    async def stale(self, requeue_after: timedelta) -> list[str]:
        """Jobs meant to run that no live worker holds: their lease ran out, or they were
        queued long ago and never claimed (the queue entry was lost)."""
        now = _now()
        query = select(_J.c.id).where(
            _J.c.status.in_(ACTIVE),
            or_(
                _J.c.lease_expires_at < now,
                (_J.c.lease_expires_at.is_(None)) & (_J.c.enqueued_at < now - requeue_after),
            ),
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [str(r[0]) for r in rows]

    async def mark_enqueued(self, job_id: str) -> None:
        """Record that the job was put on the queue again now."""
        await self._db.write(
            lambda conn: conn.execute(
                update(_J).where(_J.c.id == job_id).values(enqueued_at=_now())
            )
        )

    # -- events and checkpoints ----------------------------------------------------------

    async def add_event(
        self,
        job_id: str,
        message: str,
        *,
        type: str = "message",
        level: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append an event to the job's log."""
        statement = _E.insert().values(
            id="ftevent-" + secrets.token_hex(12),
            job_id=job_id,
            level=level,
            type=type,
            message=message,
            data_json=json.dumps(data) if data is not None else None,
            created_at=_now(),
        )
        await self._db.write(lambda conn: conn.execute(statement))

    async def events(
        self, job_id: str, *, limit: int, after: str | None
    ) -> tuple[list[EventRecord], bool]:
        """The job's events, newest first, older than the event ``after``."""
        query = select(_E).where(_E.c.job_id == job_id)
        if after is not None:
            cursor = select(_E.c.seq).where(_E.c.id == after).scalar_subquery()
            query = query.where(_E.c.seq < cursor)
        query = query.order_by(_E.c.seq.desc()).limit(limit + 1)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_event(r) for r in rows[:limit]], len(rows) > limit

    async def add_checkpoint(
        self, job_id: str, step: int, model: str, adapter_path: str, metrics: dict[str, Any]
    ) -> None:
        """Record an epoch's checkpoint (once, however often it is reported)."""
        statement = (
            self._insert(_C)
            .values(
                id="ftckpt_" + secrets.token_hex(12),
                job_id=job_id,
                step=step,
                model=model,
                adapter_path=adapter_path,
                metrics_json=json.dumps(metrics),
                created_at=_now(),
            )
            .on_conflict_do_nothing()
        )
        await self._db.write(lambda conn: conn.execute(statement))

    async def checkpoints(
        self, job_id: str, *, limit: int, after: str | None
    ) -> tuple[list[CheckpointRecord], bool]:
        """The job's checkpoints, newest first, older than the checkpoint ``after``."""
        query = select(_C).where(_C.c.job_id == job_id)
        if after is not None:
            cursor = select(_C.c.step).where(_C.c.id == after).scalar_subquery()
            query = query.where(_C.c.step < cursor)
        query = query.order_by(_C.c.step.desc()).limit(limit + 1)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_checkpoint(r) for r in rows[:limit]], len(rows) > limit

    async def checkpoint_by_model(self, model: str) -> CheckpointRecord | None:
        """The checkpoint served under the model name ``model``."""
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(_C).where(_C.c.model == model))).first()
        return _checkpoint(row) if row is not None else None
