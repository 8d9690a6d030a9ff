"""Evals as stored: their data source config, testing criteria and metadata (owner-scoped).
Their runs live in ``store.eval_runs``, the runs' graded items in ``store.eval_items``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, delete, or_, select, update
from sqlalchemy.engine import Connection

from workhorse.errors import NotFound
from workhorse.store.db import Database
from workhorse.store.tables import Eval

_E = cast(Table, Eval.__table__)


@dataclass(frozen=True)
class EvalRecord:
    """An eval as stored (``data_source_config`` and criteria as validated)."""

    id: str
    owner: str
    name: str
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    metadata: dict[str, str]
    created_at: int
    updated_at: int


def _eval(row: Row[Any]) -> EvalRecord:
    r = row._mapping
    return EvalRecord(
        r["id"],
        r["owner"],
        r["name"],
        json.loads(r["data_source_config_json"]),
        json.loads(r["testing_criteria_json"]),
        json.loads(r["metadata_json"]),
        r["created_at"],
        r["updated_at"],
    )


def missing_eval(eval_id: str) -> NotFound:
    return NotFound(f"No eval found with id '{eval_id}'.", param="eval_id")


class EvalStore:
    """The evals of each owner."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- evals ---------------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        api_key_id: str | None,
        *,
        name: str,
        data_source_config: dict[str, Any],
        testing_criteria: list[dict[str, Any]],
        metadata: dict[str, str],
    ) -> EvalRecord:
        now = int(time.time())
        statement = (
            _E.insert()
            .values(
                id="eval_" + secrets.token_hex(16),
                owner=owner,
                api_key_id=api_key_id,
                name=name,
                data_source_config_json=json.dumps(data_source_config),
                testing_criteria_json=json.dumps(testing_criteria),
                metadata_json=json.dumps(metadata),
                created_at=now,
                updated_at=now,
            )
            .returning(*_E.c)
        )
        return await self._db.write(lambda conn: _eval(conn.execute(statement).one()))

    async def get(self, owner: str, eval_id: str) -> EvalRecord:
        query = select(_E).where(_E.c.id == eval_id, _E.c.owner == owner)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise missing_eval(eval_id)
        return _eval(row)

    async def page(
        self, owner: str, *, after: str | None, limit: int, ascending: bool, by_updated: bool
    ) -> tuple[list[EvalRecord], bool]:
        """A page of the owner's evals after the eval ``after`` (unknown: from the start)."""
        key = _E.c.updated_at if by_updated else _E.c.seq
        query = select(_E).where(_E.c.owner == owner)
        async with self._db.engine.connect() as conn:
            if after is not None:
                found = (
                    await conn.execute(
                        select(key, _E.c.seq).where(_E.c.id == after, _E.c.owner == owner)
                    )
                ).first()
                if found is not None:
                    value, seq = found
                    if ascending:
                        query = query.where(or_(key > value, (key == value) & (_E.c.seq > seq)))
                    else:
                        query = query.where(or_(key < value, (key == value) & (_E.c.seq < seq)))
            order = (key.asc(), _E.c.seq.asc()) if ascending else (key.desc(), _E.c.seq.desc())
            rows = (await conn.execute(query.order_by(*order).limit(limit + 1))).all()
        return [_eval(r) for r in rows[:limit]], len(rows) > limit

    async def update(
        self, owner: str, eval_id: str, *, name: str | None, metadata: dict[str, str] | None
    ) -> EvalRecord:
        values: dict[str, Any] = {"updated_at": int(time.time())}
        if name is not None:
            values["name"] = name
        if metadata is not None:
            values["metadata_json"] = json.dumps(metadata)

        def work(conn: Connection) -> Row[Any] | None:
            return conn.execute(
                update(_E)
                .where(_E.c.id == eval_id, _E.c.owner == owner)
                .values(**values)
                .returning(*_E.c)
            ).first()

        row = await self._db.write(work)
        if row is None:
            raise missing_eval(eval_id)
        return _eval(row)

    async def delete(self, owner: str, eval_id: str) -> None:
        """Delete the eval with its runs and their items (a running run stops at its next
        heartbeat: it no longer finds itself)."""

        def work(conn: Connection) -> int:
            return conn.execute(delete(_E).where(_E.c.id == eval_id, _E.c.owner == owner)).rowcount

        if not await self._db.write(work):
            raise missing_eval(eval_id)
