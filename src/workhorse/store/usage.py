"""Usage: what each key spent, per project, model, API and UTC minute.

Every increment is one upsert adding to the minute's row, so concurrent requests on any
number of replicas add up exactly; the Usage API sums minutes into 1m, 1h or 1d buckets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from workhorse.store.db import Database
from workhorse.store.tables import UsageRecord

_U = cast(Table, UsageRecord.__table__)
APIS = ("completions", "embeddings", "fine_tuning", "files", "http")
"""What a row's ``api`` says: generations, embeddings, training, stored files, and the
HTTP requests themselves (their count and errors)."""


@dataclass(frozen=True)
class Spend:
    """One increment of usage."""

    project_id: str
    api_key_id: str
    model: str
    api: str
    requests: int = 0
    errors: int = 0
    model_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    trained_tokens: int = 0
    stored_bytes: int = 0


COUNTERS = tuple(f.name for f in fields(Spend) if f.type == "int")


def add_spend(conn: Connection, spend: Spend, at_s: float) -> None:
    """Add ``spend`` to its minute's row, in the caller's transaction."""
    values = {name: getattr(spend, name) for name in COUNTERS}
    if not any(values.values()):
        return
    key = {
        "project_id": spend.project_id,
        "api_key_id": spend.api_key_id,
        "model": spend.model,
        "api": spend.api,
        "minute": int(at_s // 60 * 60),
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_U).values(**key, **values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: _U.c[name] + statement.excluded[name] for name in COUNTERS},
        )
    )


@dataclass(frozen=True)
class Row:
    """One bucket's sums for one group."""

    start: int
    group: dict[str, str]
    totals: dict[str, int]


class UsageStore:
    """Record and sum usage."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, spend: Spend, at_s: float) -> None:
        await self._db.write(lambda conn: add_spend(conn, spend, at_s))

    async def sums(
        self,
        apis: Sequence[str],
        start: int,
        end: int,
        width: int,
        group_by: Sequence[str],
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Row]:
        """Sums per bucket of ``width`` seconds from ``start`` (to ``end``) and group."""
        bucket = (start + (_U.c.minute - start) // width * width).label("bucket")
        groups = [_U.c[name] for name in group_by]
        query: Any = (
            select(bucket, *groups, *(func.sum(_U.c[name]).label(name) for name in COUNTERS))
            .where(_U.c.api.in_(apis), _U.c.minute >= start, _U.c.minute < end)
            .group_by(bucket, *groups)
            .order_by(bucket, *groups)
        )
        for name, values in (filters or {}).items():
            query = query.where(_U.c[name].in_(values))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Row(
                start=int(row.bucket),
                group={name: getattr(row, name) for name in group_by},
                totals={name: int(getattr(row, name) or 0) for name in COUNTERS},
            )
            for row in rows
        ]
