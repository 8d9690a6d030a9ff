"""File records: one per (owner, content, purpose); the bytes are in the blob store."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from sqlalchemy import Table, delete, func, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from workhorse.store.db import Database
from workhorse.store.tables import File, UTCDateTime

_T = cast(Table, File.__table__)


@dataclass(frozen=True)
class FileRecord:
    """A stored file's metadata."""

    id: str
    owner: str
    purpose: str
    filename: str
    bytes: int
    sha256: str
    created_at: datetime


def _record(row: object) -> FileRecord:
    r = cast(File, row)
    return FileRecord(r.id, r.owner, r.purpose, r.filename, r.bytes, r.sha256, r.created_at)


class FileStore:
    """Creates (deduplicated), lists, reads and deletes file records."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    async def create(
        self, owner: str, purpose: str, filename: str, size: int, sha256: str
    ) -> tuple[FileRecord, bool]:
        """The owner's file with this content and purpose: a new one, or the existing one
        (then False). Atomic across processes through the unique constraint."""

        def work(conn: Connection) -> tuple[FileRecord, bool]:
            row = conn.execute(
                self._insert(_T)
                .values(
                    id="file-" + secrets.token_hex(12),
                    owner=owner,
                    purpose=purpose,
                    filename=filename,
                    bytes=size,
                    sha256=sha256,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing()
                .returning(*_T.c)
            ).first()
            if row is not None:
                return _record(row), True
            existing = conn.execute(
                select(_T).where(
                    _T.c.owner == owner, _T.c.sha256 == sha256, _T.c.purpose == purpose
                )
            ).one()
            return _record(existing), False

        return await self._db.write(work)

    async def get(self, owner: str, file_id: str) -> FileRecord | None:
        """The owner's file, or None."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(select(_T).where(_T.c.id == file_id, _T.c.owner == owner))
            ).first()
        return _record(row) if row is not None else None

    async def list(
        self,
        owner: str,
        *,
        purpose: str | None,
        limit: int,
        after: str | None,
        order: Literal["asc", "desc"],
    ) -> tuple[list[FileRecord], bool]:
        """A page of the owner's files, and whether more follow."""
        query = select(_T).where(_T.c.owner == owner)
        if purpose is not None:
            query = query.where(_T.c.purpose == purpose)
        if after is not None:
            cursor = await self.get(owner, after)
            if cursor is not None:
                columns = tuple_(_T.c.created_at, _T.c.id)
                key = tuple_(literal(cursor.created_at, UTCDateTime()), literal(cursor.id))
                query = query.where(columns > key if order == "asc" else columns < key)
        sort = (_T.c.created_at, _T.c.id)
        query = query.order_by(*(c.asc() if order == "asc" else c.desc() for c in sort))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).all()
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    async def delete(self, owner: str, file_id: str) -> tuple[FileRecord | None, bool]:
        """Delete the owner's file: its record (None if absent), and whether no file refers
        to its blob any more, decided in one transaction."""

        def work(conn: Connection) -> tuple[FileRecord | None, bool]:
            row = conn.execute(
                delete(_T).where(_T.c.id == file_id, _T.c.owner == owner).returning(*_T.c)
            ).first()
            if row is None:
                return None, False
            record = _record(row)
            others = conn.execute(
                select(func.count()).select_from(_T).where(_T.c.sha256 == record.sha256)
            ).scalar_one()
            return record, others == 0

        return await self._db.write(work)
