"""Anthropic Messages answers kept with ``store: true``, so feedback can rate them."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select

from workhorse.errors import NotFound
from workhorse.store.db import Database
from workhorse.store.tables import StoredMessage

_M = cast(Table, StoredMessage.__table__)


@dataclass(frozen=True)
class KeptMessage:
    """One stored answer: what was asked (system prompt and turns) and what was said."""

    id: str
    model: str
    input: list[dict[str, Any]]
    output: str
    created_at: int


def _kept(row: Any) -> KeptMessage:
    return KeptMessage(
        row.id, row.model, json.loads(row.input_json), row.output_text, row.created_at
    )


class MessageStore:
    """Keep, read and forget a project's stored messages."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        owner: str,
        api_key_id: str | None,
        message_id: str,
        model: str,
        asked: list[dict[str, Any]],
        answer: str,
    ) -> None:
        statement = _M.insert().values(
            id=message_id,
            owner=owner,
            api_key_id=api_key_id,
            model=model,
            input_json=json.dumps(asked, ensure_ascii=False),
            output_text=answer,
            created_at=int(time.time()),
        )
        await self._db.write(lambda conn: conn.execute(statement))

    async def get(self, owner: str, message_id: str, *, param: str | None = None) -> KeptMessage:
        query = select(_M).where(_M.c.id == message_id, _M.c.owner == owner)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"No stored message found with id '{message_id}'.", param=param)
        return _kept(row)

    async def get_many(self, owner: str, ids: Sequence[str]) -> dict[str, KeptMessage]:
        """The owner's messages among ``ids``, by id (one query)."""
        if not ids:
            return {}
        query = select(_M).where(_M.c.id.in_(list(ids)), _M.c.owner == owner)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.id: _kept(row) for row in rows}
