"""The request inspector's records: written in batches, listed newest first, pruned by
count and age (oldest first), in the shared database so every replica sees every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, insert, select

from workhorse.store.db import Database
from workhorse.store.tables import RequestRecord

_R = cast(Table, RequestRecord.__table__)


@dataclass(frozen=True)
class Entry:
    """What is recorded of one request (the columns of ``request_records`` but ``seq``)."""

    request_id: str
    trace_id: str | None
    at_ms: int
    method: str
    route: str
    path: str
    status: int
    duration_ms: float
    content_type: str | None
    bytes_in: int
    bytes_out: int
    api_key_id: str | None
    api_key_name: str | None
    project_id: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    idempotency: str | None
    client_retries: int
    disconnected: bool
    error_type: str | None
    error_code: str | None
    error_param: str | None
    error_message: str | None
    created_json: str | None
    captured_json: str | None


@dataclass(frozen=True)
class Record:
    """A stored entry and its place in the log."""

    seq: int
    entry: Entry


_COLUMNS = tuple(f.name for f in fields(Entry))


@dataclass(frozen=True)
class Filters:
    """What a listing keeps; every field given must match."""

    status: int | None = None
    status_class: int | None = None
    """2 for 2xx, 4 for 4xx, 5 for 5xx."""
    failed: bool = False
    """Status 400 and above, or a client that went away mid-response."""
    route: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    error_code: str | None = None
    idempotency: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


def _where(query: Any, filters: Filters) -> Any:
    exact = {
        "status": filters.status,
        "route": filters.route,
        "api_key_id": filters.api_key_id,
        "model": filters.model,
        "error_code": filters.error_code,
        "idempotency": filters.idempotency,
    }
    for name, value in exact.items():
        if value is not None:
            query = query.where(_R.c[name] == value)
    if filters.status_class is not None:
        low = filters.status_class * 100
        query = query.where(_R.c.status >= low, _R.c.status < low + 100)
    if filters.failed:
        query = query.where((_R.c.status >= 400) | _R.c.disconnected)
    if filters.since_ms is not None:
        query = query.where(_R.c.at_ms >= filters.since_ms)
    if filters.until_ms is not None:
        query = query.where(_R.c.at_ms < filters.until_ms)
    return query


def _record(row: Any) -> Record:
    return Record(row.seq, Entry(**{name: getattr(row, name) for name in _COLUMNS}))


class RequestLog:
    """Add, prune, list and find request records."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, entries: Sequence[Entry]) -> None:
        """Write ``entries`` in one transaction."""
        if not entries:
            return
        rows = [asdict(entry) for entry in entries]
        await self._db.write(lambda conn: conn.execute(insert(_R), rows))

    async def prune(self, *, max_records: int, older_than_ms: int) -> int:
        """Drop records older than ``older_than_ms`` and all but the newest
        ``max_records``; returns how many went."""

        def work(conn: Connection) -> int:
            gone = conn.execute(delete(_R).where(_R.c.at_ms < older_than_ms)).rowcount
            # The seq of the newest record past the bound: it and everything older go.
            edge = conn.execute(
                select(_R.c.seq).order_by(_R.c.seq.desc()).offset(max_records).limit(1)
            ).scalar()
            if edge is not None:
                gone += conn.execute(delete(_R).where(_R.c.seq <= edge)).rowcount
            return int(gone)

        return await self._db.write(work)

    async def page(
        self, filters: Filters, *, limit: int, before_seq: int | None = None
    ) -> list[Record]:
        """Up to ``limit`` records, newest first, older than ``before_seq`` if given."""
        query = _where(select(_R), filters).order_by(_R.c.seq.desc()).limit(limit)
        if before_seq is not None:
            query = query.where(_R.c.seq < before_seq)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def newer(self, filters: Filters, *, after_seq: int, limit: int) -> list[Record]:
        """Up to ``limit`` records written after ``after_seq``, oldest first (to follow)."""
        query = (
            _where(select(_R), filters).where(_R.c.seq > after_seq).order_by(_R.c.seq).limit(limit)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def samples(
        self, *, since_ms: int, limit: int
    ) -> list[tuple[int, int, float, str | None]]:
        """``(at_ms, status, duration_ms, error_code)`` of up to ``limit`` of the newest
        records since ``since_ms``, oldest first: what the dashboard counts."""
        query = (
            select(_R.c.at_ms, _R.c.status, _R.c.duration_ms, _R.c.error_code)
            .where(_R.c.at_ms >= since_ms)
            .order_by(_R.c.at_ms.desc())
            .limit(limit)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.at_ms, r.status, r.duration_ms, r.error_code) for r in reversed(rows)]

    async def get(self, request_id: str) -> Record | None:
        """The newest record of ``request_id`` (a client may reuse its own ids)."""
        query = select(_R).where(_R.c.request_id == request_id).order_by(_R.c.seq.desc()).limit(1)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _record(row) if row is not None else None
