"""Uploads and their parts: the state machine of OpenAI's Uploads API, kept in the database.

An upload is ``pending`` until it is claimed for completion (``completing``, which the API
shows as ``pending``), then ``completed``; or ``cancelled``; or ``expired`` once its
``expires_at`` passed while pending. Every transition is one conditional UPDATE, so two
processes racing on the same upload cannot both win (two completes, a part and a cancel).
The parts' bytes are files on disk; this module only records them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, literal, or_, select, update
from sqlalchemy.engine import Connection

from workhorse.store.db import Database
from workhorse.store.tables import Upload, UploadPart, UTCDateTime

_U = cast(Table, Upload.__table__)
_P = cast(Table, UploadPart.__table__)

PENDING, COMPLETING, COMPLETED = "pending", "completing", "completed"
CANCELLED, EXPIRED = "cancelled", "expired"


@dataclass(frozen=True)
class UploadRecord:
    """An upload as stored."""

    id: str
    owner: str
    filename: str
    purpose: str
    mime_type: str
    bytes: int
    received_bytes: int
    status: str
    part_ids: tuple[str, ...] | None
    """The parts it was completed from, in order (set when claimed for completion)."""
    file_id: str | None
    claimed_at: datetime | None
    """When a complete claimed it (the claim's token)."""
    created_at: datetime
    expires_at: datetime

    def is_due(self, now: datetime) -> bool:
        """Pending past its expiry: expired, whether or not that was recorded yet."""
        return self.status == PENDING and now >= self.expires_at


@dataclass(frozen=True)
class PartRecord:
    """One received part."""

    id: str
    upload_id: str
    bytes: int
    sha256: str
    created_at: datetime


def _upload(row: object) -> UploadRecord:
    r = cast(Upload, row)
    part_ids = tuple(json.loads(r.part_ids_json)) if r.part_ids_json is not None else None
    return UploadRecord(
        r.id,
        r.owner,
        r.filename,
        r.purpose,
        r.mime_type,
        r.bytes,
        r.received_bytes,
        r.status,
        part_ids,
        r.file_id,
        r.claimed_at,
        r.created_at,
        r.expires_at,
    )


def _part(row: object) -> PartRecord:
    r = cast(UploadPart, row)
    return PartRecord(r.id, r.upload_id, r.bytes, r.sha256, r.created_at)


def _expire_if_due(conn: Connection, upload_id: str, now: datetime) -> None:
    conn.execute(
        update(_U)
        .where(_U.c.id == upload_id, _U.c.status == PENDING, _U.c.expires_at <= now)
        .values(status=EXPIRED)
    )


def _select(conn: Connection, owner: str, upload_id: str) -> UploadRecord | None:
    row = conn.execute(select(_U).where(_U.c.id == upload_id, _U.c.owner == owner)).first()
    return _upload(row) if row is not None else None


class UploadStore:
    """Creates uploads, records parts, and moves uploads through their states."""

    def __init__(self, db: Database, *, ttl: timedelta, complete_lease: timedelta) -> None:
        self._db = db
        self._ttl = ttl
        self._lease = complete_lease

    def _claimable(self, now: datetime) -> Any:
        """Pending, or claimed by a complete that was abandoned (its process died)."""
        return or_(
            _U.c.status == PENDING,
            (_U.c.status == COMPLETING) & (_U.c.claimed_at < now - self._lease),
        )

    async def create(
        self, owner: str, filename: str, purpose: str, mime_type: str, size: int
    ) -> UploadRecord:
        """A new pending upload expecting ``size`` bytes."""
        now = datetime.now(UTC)
        statement = (
            insert(_U)
            .values(
                id="upload_" + secrets.token_hex(12),
                owner=owner,
                filename=filename,
                purpose=purpose,
                mime_type=mime_type,
                bytes=size,
                received_bytes=0,
                status=PENDING,
                part_ids_json=None,
                file_id=None,
                created_at=now,
                expires_at=now + self._ttl,
            )
            .returning(*_U.c)
        )
        return await self._db.write(lambda conn: _upload(conn.execute(statement).one()))

    async def get(self, owner: str, upload_id: str) -> UploadRecord | None:
        """The owner's upload, or None."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(select(_U).where(_U.c.id == upload_id, _U.c.owner == owner))
            ).first()
        return _upload(row) if row is not None else None

    async def parts(self, upload_id: str) -> dict[str, PartRecord]:
        """The upload's parts by id."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(_P).where(_P.c.upload_id == upload_id))).all()
        return {record.id: record for record in map(_part, rows)}

    async def add_part(
        self, owner: str, upload_id: str, part_id: str, size: int, sha256: str
    ) -> tuple[PartRecord | None, UploadRecord | None]:
        """Record a part if the upload is pending, not due, and has room for ``size`` more
        bytes. Otherwise no part, and the upload as it stands (marked expired if due), or
        None when the owner has no such upload."""

        def work(conn: Connection) -> tuple[PartRecord | None, UploadRecord | None]:
            now = datetime.now(UTC)
            room = conn.execute(
                update(_U)
                .where(
                    _U.c.id == upload_id,
                    _U.c.owner == owner,
                    _U.c.status == PENDING,
                    _U.c.expires_at > now,
                    _U.c.received_bytes + size <= _U.c.bytes,
                )
                .values(received_bytes=_U.c.received_bytes + size)
                .returning(*_U.c)
            ).first()
            if room is None:
                _expire_if_due(conn, upload_id, now)
                return None, _select(conn, owner, upload_id)
            row = conn.execute(
                insert(_P)
                .values(id=part_id, upload_id=upload_id, bytes=size, sha256=sha256, created_at=now)
                .returning(*_P.c)
            ).one()
            return _part(row), _upload(room)

        return await self._db.write(work)

    async def claim(
        self, owner: str, upload_id: str, part_ids: list[str]
    ) -> tuple[bool, UploadRecord | None]:
        """Claim a pending upload (or one whose completion was abandoned longer than the
        lease ago) for completion from ``part_ids``: (True, the upload) for exactly one
        caller; else False and the upload as it stands (marked expired if due), or None
        when the owner has no such upload."""

        def work(conn: Connection) -> tuple[bool, UploadRecord | None]:
            now = datetime.now(UTC)
            row = conn.execute(
                update(_U)
                .where(
                    _U.c.id == upload_id,
                    _U.c.owner == owner,
                    self._claimable(now),
                    _U.c.expires_at > now,
                )
                .values(status=COMPLETING, part_ids_json=json.dumps(part_ids), claimed_at=now)
                .returning(*_U.c)
            ).first()
            if row is not None:
                return True, _upload(row)
            _expire_if_due(conn, upload_id, now)
            return False, _select(conn, owner, upload_id)

        return await self._db.write(work)

    def _held(self, claim: UploadRecord) -> Any:
        return (
            (_U.c.id == claim.id)
            & (_U.c.status == COMPLETING)
            & (_U.c.claimed_at == literal(claim.claimed_at, UTCDateTime()))
        )

    async def release(self, claim: UploadRecord) -> None:
        """Give a claimed upload back (its completion failed): pending again."""
        statement = update(_U).where(self._held(claim)).values(status=PENDING, part_ids_json=None)
        await self._db.write(lambda conn: conn.execute(statement))

    async def finish(self, claim: UploadRecord, file_id: str) -> UploadRecord | None:
        """Mark a claimed upload completed with its file; None if the claim was taken over
        meanwhile (it outlived its lease)."""
        statement = (
            update(_U)
            .where(self._held(claim))
            .values(status=COMPLETED, file_id=file_id)
            .returning(*_U.c)
        )
        return await self._db.write(
            lambda conn: _upload(row) if (row := conn.execute(statement).first()) else None
        )

    async def cancel(self, owner: str, upload_id: str) -> tuple[bool, UploadRecord | None]:
        """Cancel a pending upload: (True, the upload) if this call cancelled it; else False
        and the upload as it stands (marked expired if due), or None if there is none."""

        def work(conn: Connection) -> tuple[bool, UploadRecord | None]:
            now = datetime.now(UTC)
            row = conn.execute(
                update(_U)
                .where(
                    _U.c.id == upload_id,
                    _U.c.owner == owner,
                    _U.c.status == PENDING,
                    _U.c.expires_at > now,
                )
                .values(status=CANCELLED)
                .returning(*_U.c)
            ).first()
            if row is not None:
                return True, _upload(row)
            _expire_if_due(conn, upload_id, now)
            return False, _select(conn, owner, upload_id)

        return await self._db.write(work)

    async def purge(self, retention: timedelta) -> None:
        """Mark pending uploads past their expiry as expired, and delete every upload (its
        part records with it) whose expiry is more than ``retention`` ago."""

        def work(conn: Connection) -> None:
            now = datetime.now(UTC)
            conn.execute(
                update(_U)
                .where(self._claimable(now), _U.c.expires_at <= now)
                .values(status=EXPIRED)
            )
            conn.execute(delete(_U).where(_U.c.expires_at <= now - retention))

        await self._db.write(work)

    async def leftovers(self, upload_ids: list[str]) -> list[str]:
        """Of these ids, those whose part files may go: unknown, or no longer pending or
        being completed."""
        if not upload_ids:
            return []
        async with self._db.engine.connect() as conn:
            live = (
                await conn.execute(
                    select(_U.c.id).where(
                        _U.c.id.in_(upload_ids),
                        or_(_U.c.status == PENDING, _U.c.status == COMPLETING),
                    )
                )
            ).scalars()
            keep = set(live)
        return [upload_id for upload_id in upload_ids if upload_id not in keep]
