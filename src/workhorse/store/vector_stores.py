"""Vector stores, their files and batches, and the ingestion state of every file.

A file's ingestion job is durable here, whatever happens to the queue: a row stays
``in_progress`` until a worker ends it. ``claim_file`` gives it to one worker at a time
under a lease; ``stale_files`` finds jobs whose worker died (lease run out) or whose
queue entry was lost (never claimed long after being queued), to be queued again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, and_, case, delete, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.engine import Connection, Row

from workhorse.errors import NotFound
from workhorse.obs.tracing import current_traceparent
from workhorse.store.db import Database
from workhorse.store.tables import UTCDateTime, VectorStore, VectorStoreFile, VectorStoreFileBatch

_S = cast(Table, VectorStore.__table__)
_F = cast(Table, VectorStoreFile.__table__)
_B = cast(Table, VectorStoreFileBatch.__table__)

Json = dict[str, Any]
FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]
STATUSES: tuple[FileStatus, ...] = ("in_progress", "completed", "failed", "cancelled")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VectorStoreRecord:
    """A vector store row."""

    id: str
    owner: str
    name: str | None
    metadata: dict[str, str]
    chunking: Json
    expires_after_days: int | None
    last_active_at: datetime
    created_at: datetime

    @property
    def expires_at(self) -> datetime | None:
        """When it expires, counted from its last activity."""
        if self.expires_after_days is None:
            return None
        return self.last_active_at + timedelta(days=self.expires_after_days)


@dataclass(frozen=True)
class FileCounts:
    """Files of a store (or batch) by status."""

    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        """Every file."""
        return self.in_progress + self.completed + self.failed + self.cancelled


@dataclass(frozen=True)
class StoreFileRecord:
    """A file in a vector store, with its ingestion state."""

    vector_store_id: str
    file_id: str
    owner: str
    batch_id: str | None
    status: FileStatus
    last_error: Json | None
    attributes: Json
    chunking: Json
    usage_bytes: int
    chunks: int
    attempts: int
    created_at: datetime
    api_key_id: str | None = None
    """The key that added the file (None for files added before keys were metered)."""
    traceparent: str | None = None
    """The trace context of the request that queued its ingestion."""


@dataclass(frozen=True)
class BatchRecord:
    """A file batch."""

    id: str
    vector_store_id: str
    owner: str
    cancelled: bool
    created_at: datetime


def _store(row: Row[Any]) -> VectorStoreRecord:
    r = row._mapping
    return VectorStoreRecord(
        r["id"],
        r["owner"],
        r["name"],
        json.loads(r["metadata_json"]),
        json.loads(r["chunking_json"]),
        r["expires_after_days"],
        r["last_active_at"],
        r["created_at"],
    )


def _file(row: Row[Any]) -> StoreFileRecord:
    r = row._mapping
    return StoreFileRecord(
        r["vector_store_id"],
        r["file_id"],
        r["owner"],
        r["batch_id"],
        r["status"],
        json.loads(r["last_error_json"]) if r["last_error_json"] else None,
        json.loads(r["attributes_json"]),
        json.loads(r["chunking_json"]),
        int(r["usage_bytes"]),
        int(r["chunks"]),
        int(r["attempts"]),
        r["created_at"],
        r["api_key_id"],
        r["traceparent"],
    )


def _batch(row: Row[Any]) -> BatchRecord:
    r = row._mapping
    return BatchRecord(
        r["id"], r["vector_store_id"], r["owner"], bool(r["cancelled"]), r["created_at"]
    )


def _page(order: Literal["asc", "desc"], columns: Any, key: Any) -> Any:
    return columns > key if order == "asc" else columns < key


class VectorStoreStore:
    """Vector stores, files and batches, owner-scoped; the ingestion job states."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- stores ----------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        *,
        name: str | None,
        metadata: dict[str, str],
        chunking: Json,
        expires_after_days: int | None,
    ) -> VectorStoreRecord:
        """A new, empty vector store."""
        now = _now()
        values = {
            "id": "vs_" + secrets.token_hex(16),
            "owner": owner,
            "name": name,
            "metadata_json": json.dumps(metadata),
            "chunking_json": json.dumps(chunking),
            "expires_after_days": expires_after_days,
            "last_active_at": now,
            "created_at": now,
        }

        def work(conn: Connection) -> Row[Any]:
            return conn.execute(insert(_S).values(**values).returning(*_S.c)).one()

        return _store(await self._db.write(work))

    async def get(self, owner: str, store_id: str) -> VectorStoreRecord:
        """The owner's vector store; 404 otherwise."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(select(_S).where(_S.c.id == store_id, _S.c.owner == owner))
            ).first()
        if row is None:
            raise NotFound(f"No vector store found with id {store_id!r}.")
        return _store(row)

    async def update(self, owner: str, store_id: str, changes: dict[str, Any]) -> VectorStoreRecord:
        """Change name, metadata or expiry (keys of ``changes``), and mark it active."""
        values: dict[str, Any] = {"last_active_at": _now()}
        if "name" in changes:
            values["name"] = changes["name"]
        if "metadata" in changes:
            values["metadata_json"] = json.dumps(changes["metadata"] or {})
        if "expires_after_days" in changes:
            values["expires_after_days"] = changes["expires_after_days"]

        def work(conn: Connection) -> Row[Any] | None:
            return conn.execute(
                update(_S)
                .where(_S.c.id == store_id, _S.c.owner == owner)
                .values(**values)
                .returning(*_S.c)
            ).first()

        row = await self._db.write(work)
        if row is None:
            raise NotFound(f"No vector store found with id {store_id!r}.")
        return _store(row)

    async def touch(self, store_id: str) -> None:
        """Record activity (searches keep a store from expiring)."""

        def work(conn: Connection) -> None:
            conn.execute(update(_S).where(_S.c.id == store_id).values(last_active_at=_now()))

        await self._db.write(work)

    async def delete(self, owner: str, store_id: str) -> None:
        """Delete the store, its files' memberships and batches."""

        def work(conn: Connection) -> int:
            found = conn.execute(
                select(_S.c.id).where(_S.c.id == store_id, _S.c.owner == owner)
            ).first()
            if found is None:
                return 0
            conn.execute(delete(_F).where(_F.c.vector_store_id == store_id))
            conn.execute(delete(_B).where(_B.c.vector_store_id == store_id))
            conn.execute(delete(_S).where(_S.c.id == store_id))
            return 1

        if await self._db.write(work) == 0:
            raise NotFound(f"No vector store found with id {store_id!r}.")

    async def page(
        self, owner: str, *, limit: int, after: str | None, order: Literal["asc", "desc"]
    ) -> tuple[list[VectorStoreRecord], bool]:
        """A page of the owner's stores, and whether more follow."""
        query = select(_S).where(_S.c.owner == owner)
        if after is not None:
            cursor = await self.get(owner, after)
            query = query.where(
                _page(
                    order,
                    tuple_(_S.c.created_at, _S.c.id),
                    tuple_(literal(cursor.created_at, UTCDateTime()), literal(cursor.id)),
                )
            )
        sort = (_S.c.created_at, _S.c.id)
        query = query.order_by(*(c.asc() if order == "asc" else c.desc() for c in sort))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).all()
        return [_store(r) for r in rows[:limit]], len(rows) > limit

    async def counts(self, store_ids: list[str]) -> dict[str, tuple[FileCounts, int]]:
        """File counts by status and bytes used, per store."""
        query = (
            select(_F.c.vector_store_id, _F.c.status, func.count(), func.sum(_F.c.usage_bytes))
            .where(_F.c.vector_store_id.in_(store_ids))
            .group_by(_F.c.vector_store_id, _F.c.status)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        tallies: dict[str, dict[str, int]] = {i: {} for i in store_ids}
        usage: dict[str, int] = dict.fromkeys(store_ids, 0)
        for store_id, status, count, used in rows:
            tallies[store_id][status] = int(count)
            usage[store_id] += int(used or 0)
        return {i: (FileCounts(**tallies[i]), usage[i]) for i in store_ids}

    # -- files -----------------------------------------------------------------------

    async def add_files(
        self,
        owner: str,
        store_id: str,
        files: list[tuple[str, Json]],
        *,
        chunking: Json,
        api_key_id: str,
        batch_id: str | None = None,
        new_batch: bool = True,
    ) -> tuple[list[StoreFileRecord], list[str]]:
        """Add ``(file_id, attributes)`` pairs to the store for the key ``api_key_id``
        (its ingestion is that key's usage); files already there keep their state unless
        they failed or were cancelled, which queues them again. Returns the rows, and the
        file ids that need an ingestion job."""
        now = _now()
        traceparent = current_traceparent()  # read here: the writer thread has no context

        def work(conn: Connection) -> tuple[list[StoreFileRecord], list[str]]:
            if (
                conn.execute(
                    select(_S.c.id).where(_S.c.id == store_id, _S.c.owner == owner)
                ).first()
                is None
            ):
                raise NotFound(f"No vector store found with id {store_id!r}.")
            if batch_id is not None and new_batch:
                conn.execute(
                    insert(_B).values(
                        id=batch_id,
                        vector_store_id=store_id,
                        owner=owner,
                        cancelled=False,
                        created_at=now,
                    )
                )
            queued: list[str] = []
            for file_id, attributes in files:
                existing = conn.execute(
                    select(_F.c.status).where(
                        _F.c.vector_store_id == store_id, _F.c.file_id == file_id
                    )
                ).first()
                fresh = {
                    "owner": owner,
                    "api_key_id": api_key_id,
                    "traceparent": traceparent,
                    "batch_id": batch_id,
                    "status": "in_progress",
                    "last_error_json": None,
                    "attributes_json": json.dumps(attributes),
                    "chunking_json": json.dumps(chunking),
                    "usage_bytes": 0,
                    "chunks": 0,
                    "attempts": 0,
                    "lease_expires_at": None,
                    "claim_token": None,
                    "enqueued_at": now,
                    "completed_at": None,
                }
                if existing is None:
                    conn.execute(
                        insert(_F).values(
                            vector_store_id=store_id, file_id=file_id, created_at=now, **fresh
                        )
                    )
                    queued.append(file_id)
                elif existing[0] in ("failed", "cancelled"):
                    conn.execute(
                        update(_F)
                        .where(_F.c.vector_store_id == store_id, _F.c.file_id == file_id)
                        .values(**fresh)
                    )
                    queued.append(file_id)
                elif batch_id is not None:
                    conn.execute(
                        update(_F)
                        .where(_F.c.vector_store_id == store_id, _F.c.file_id == file_id)
                        .values(batch_id=batch_id)
                    )
            conn.execute(update(_S).where(_S.c.id == store_id).values(last_active_at=now))
            ids = [f[0] for f in files]
            rows = conn.execute(
                select(_F).where(_F.c.vector_store_id == store_id, _F.c.file_id.in_(ids))
            ).all()
            by_id = {r._mapping["file_id"]: _file(r) for r in rows}
            return [by_id[i] for i in ids if i in by_id], queued

        return await self._db.write(work)

    async def get_file(self, owner: str, store_id: str, file_id: str) -> StoreFileRecord:
        """One file of the owner's store; 404 otherwise."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_F).where(
                        _F.c.vector_store_id == store_id,
                        _F.c.file_id == file_id,
                        _F.c.owner == owner,
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"No file {file_id!r} in vector store {store_id!r}.")
        return _file(row)

    async def list_files(
        self,
        owner: str,
        store_id: str,
        *,
        limit: int,
        after: str | None,
        order: Literal["asc", "desc"],
        status: str | None = None,
        batch_id: str | None = None,
    ) -> tuple[list[StoreFileRecord], bool]:
        """A page of a store's files (of one batch, of one status), and whether more follow."""
        await self.get(owner, store_id)
        query = select(_F).where(_F.c.vector_store_id == store_id)
        if status is not None:
            query = query.where(_F.c.status == status)
        if batch_id is not None:
            query = query.where(_F.c.batch_id == batch_id)
        if after is not None:
            cursor = await self.get_file(owner, store_id, after)
            query = query.where(
                _page(
                    order,
                    tuple_(_F.c.created_at, _F.c.file_id),
                    tuple_(literal(cursor.created_at, UTCDateTime()), literal(cursor.file_id)),
                )
            )
        sort = (_F.c.created_at, _F.c.file_id)
        query = query.order_by(*(c.asc() if order == "asc" else c.desc() for c in sort))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).all()
        return [_file(r) for r in rows[:limit]], len(rows) > limit

    async def all_files(self, store_ids: list[str]) -> list[StoreFileRecord]:
        """Every file of these stores (for filtering searches by attributes)."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(_F).where(_F.c.vector_store_id.in_(store_ids)))).all()
        return [_file(r) for r in rows]

    async def set_attributes(
        self, owner: str, store_id: str, file_id: str, attributes: Json
    ) -> StoreFileRecord:
        """Replace a file's attributes."""

        def work(conn: Connection) -> Row[Any] | None:
            return conn.execute(
                update(_F)
                .where(
                    _F.c.vector_store_id == store_id,
                    _F.c.file_id == file_id,
                    _F.c.owner == owner,
                )
                .values(attributes_json=json.dumps(attributes))
                .returning(*_F.c)
            ).first()

        row = await self._db.write(work)
        if row is None:
            raise NotFound(f"No file {file_id!r} in vector store {store_id!r}.")
        return _file(row)

    async def remove_file(self, owner: str, store_id: str, file_id: str) -> None:
        """Take a file out of a store (its chunks are removed by the caller)."""

        def work(conn: Connection) -> int:
            gone = conn.execute(
                delete(_F)
                .where(
                    _F.c.vector_store_id == store_id,
                    _F.c.file_id == file_id,
                    _F.c.owner == owner,
                )
                .returning(_F.c.file_id)
            ).all()
            return len(gone)

        if await self._db.write(work) == 0:
            raise NotFound(f"No file {file_id!r} in vector store {store_id!r}.")

    # -- batches ---------------------------------------------------------------------

    async def get_batch(self, owner: str, store_id: str, batch_id: str) -> BatchRecord:
        """The owner's batch; 404 otherwise."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_B).where(
                        _B.c.id == batch_id,
                        _B.c.vector_store_id == store_id,
                        _B.c.owner == owner,
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"No file batch {batch_id!r} in vector store {store_id!r}.")
        return _batch(row)

    async def batch_counts(self, batch_id: str) -> FileCounts:
        """The batch's files by status."""
        query = (
            select(_F.c.status, func.count()).where(_F.c.batch_id == batch_id).group_by(_F.c.status)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return FileCounts(**{status: int(count) for status, count in rows})

    async def cancel_batch(self, owner: str, store_id: str, batch_id: str) -> BatchRecord:
        """Cancel the batch: files not yet done end ``cancelled`` (workers see it)."""
        await self.get_batch(owner, store_id, batch_id)

        def work(conn: Connection) -> None:
            conn.execute(update(_B).where(_B.c.id == batch_id).values(cancelled=True))
            conn.execute(
                update(_F)
                .where(_F.c.batch_id == batch_id, _F.c.status == "in_progress")
                .values(
                    status="cancelled", lease_expires_at=None, claim_token=None, completed_at=_now()
                )
            )

        await self._db.write(work)
        return await self.get_batch(owner, store_id, batch_id)

    # -- ingestion jobs --------------------------------------------------------------

    async def embedded_elsewhere(
        self, file_id: str, chunking: Json, vector_store_id: str
    ) -> tuple[str, int] | None:
        """Another store where this file was ingested with the same chunking: (store id,
        chunk count), so its chunks and vectors can be copied instead of computed again."""
        query = (
            select(_F.c.vector_store_id, _F.c.chunks)
            .where(
                _F.c.file_id == file_id,
                _F.c.status == "completed",
                _F.c.chunking_json == json.dumps(chunking),
                _F.c.vector_store_id != vector_store_id,
            )
            .limit(1)
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row[0], int(row[1])) if row is not None else None

    async def claim_file(
        self, store_id: str, file_id: str, lease: timedelta
    ) -> tuple[StoreFileRecord, str, bool] | None:
        """Give the file's job to the caller until ``lease`` from now, with the token that
        proves it, and whether it was taken over from a holder whose lease ran out; None
        when it ended, or another worker holds it."""
        now = _now()
        token = secrets.token_hex(16)

        def work(conn: Connection) -> tuple[Row[Any] | None, bool]:
            # A holder that let go cleared its token; one that died (or lost the job)
            # left it: a claim over it is a takeover.
            held_before = conn.execute(
                select(_F.c.claim_token).where(
                    _F.c.vector_store_id == store_id, _F.c.file_id == file_id
                )
            ).scalar()
            return conn.execute(
                update(_F)
                .where(
                    _F.c.vector_store_id == store_id,
                    _F.c.file_id == file_id,
                    _F.c.status == "in_progress",
                    or_(_F.c.lease_expires_at.is_(None), _F.c.lease_expires_at < now),
                )
                .values(lease_expires_at=now + lease, claim_token=token, attempts=_F.c.attempts + 1)
                .returning(*_F.c)
            ).first(), held_before is not None

        row, taken_over = await self._db.write(work)
        return (_file(row), token, taken_over) if row is not None else None

    def _held(self, store_id: str, file_id: str, token: str) -> Any:
        return and_(
            _F.c.vector_store_id == store_id,
            _F.c.file_id == file_id,
            _F.c.status == "in_progress",
            _F.c.claim_token == token,
        )

    async def renew(self, store_id: str, file_id: str, token: str, lease: timedelta) -> bool:
        """Extend the holder's lease; False when it no longer holds the job (ended,
        cancelled, removed, or taken over after its lease ran out)."""

        def work(conn: Connection) -> bool:
            row = conn.execute(
                update(_F)
                .where(self._held(store_id, file_id, token))
                .values(lease_expires_at=_now() + lease)
                .returning(_F.c.file_id)
            ).first()
            return row is not None

        return await self._db.write(work)

    async def status_of(self, store_id: str, file_id: str) -> str | None:
        """The job's status now (None when the file left the store)."""
        query = select(_F.c.status).where(_F.c.vector_store_id == store_id, _F.c.file_id == file_id)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return str(row[0]) if row is not None else None

    async def finish_file(
        self,
        store_id: str,
        file_id: str,
        token: str,
        status: FileStatus,
        *,
        error: Json | None = None,
        usage_bytes: int = 0,
        chunks: int = 0,
    ) -> bool:
        """End the job if the caller still holds it; False otherwise."""

        def work(conn: Connection) -> bool:
            row = conn.execute(
                update(_F)
                .where(self._held(store_id, file_id, token))
                .values(
                    status=status,
                    last_error_json=json.dumps(error) if error else None,
                    usage_bytes=usage_bytes,
                    chunks=chunks,
                    lease_expires_at=None,
                    claim_token=None,
                    completed_at=_now(),
                )
                .returning(_F.c.file_id)
            ).first()
            return row is not None

        return await self._db.write(work)

    async def release(self, store_id: str, file_id: str, token: str) -> None:
        """Give the job back to the queue (a retry follows) without ending it."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(_F)
                .where(self._held(store_id, file_id, token))
                .values(lease_expires_at=None, claim_token=None, enqueued_at=_now())
            )

        await self._db.write(work)

    async def stale_files(
        self, requeue_after: timedelta, limit: int = 100
    ) -> list[tuple[str, str]]:
        """Jobs to queue again: their worker died, or their queue entry went missing.
        Each is marked queued now, so one sweep requeues it once."""
        now = _now()

        def work(conn: Connection) -> list[tuple[str, str]]:
            stale = and_(
                _F.c.status == "in_progress",
                case(
                    (_F.c.lease_expires_at.is_(None), _F.c.enqueued_at < now - requeue_after),
                    else_=_F.c.lease_expires_at < now,
                ),
            )
            rows = conn.execute(
                select(_F.c.vector_store_id, _F.c.file_id).where(stale).limit(limit)
            ).all()
            found = [(r[0], r[1]) for r in rows]
            for store_id, file_id in found:
                conn.execute(
                    update(_F)
                    .where(_F.c.vector_store_id == store_id, _F.c.file_id == file_id)
                    .values(lease_expires_at=None, enqueued_at=now)
                )
            return found

        return await self._db.write(work)
