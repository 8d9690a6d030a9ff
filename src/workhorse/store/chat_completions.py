"""Stored chat completions (``store: true``): the answer as the client got it, the
request's messages, and the metadata pairs that listings filter on."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Connection, Table, delete, exists, insert, select, update

from workhorse.errors import NotFound
from workhorse.store.db import Database
from workhorse.store.tables import ChatCompletionMetadata, StoredChatCompletion

_C = cast(Table, StoredChatCompletion.__table__)
_M = cast(Table, ChatCompletionMetadata.__table__)

Json = dict[str, Any]
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class StoredCompletion:
    """One stored completion: the object (with its metadata) and the request's messages."""

    id: str
    completion: Json
    messages: list[Json]


def missing(completion_id: str) -> NotFound:
    return NotFound(f"No chat completion found with id '{completion_id}'.", param="completion_id")


def _stored(row: Any) -> StoredCompletion:
    completion = json.loads(row.completion_json)
    completion["metadata"] = json.loads(row.metadata_json)
    return StoredCompletion(row.id, completion, json.loads(row.messages_json))


def _set_metadata(conn: Connection, completion_id: str, metadata: Mapping[str, str]) -> None:
    conn.execute(delete(_M).where(_M.c.completion_id == completion_id))
    if metadata:
        rows = [{"completion_id": completion_id, "key": k, "value": v} for k, v in metadata.items()]
        conn.execute(insert(_M), rows)


class ChatCompletionStore:
    """Store, list, read, re-tag and delete a project's chat completions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        owner: str,
        api_key_id: str | None,
        completion: Json,
        messages: list[Json],
        metadata: Mapping[str, str],
    ) -> None:
        """Keep ``completion`` (its ``id``, ``model`` and ``created`` index it)."""
        values = {
            "id": completion["id"],
            "owner": owner,
            "api_key_id": api_key_id,
            "model": completion["model"],
            "created_at": completion["created"],
            "metadata_json": json.dumps(dict(metadata)),
            "messages_json": json.dumps(messages, ensure_ascii=False),
            "completion_json": json.dumps(completion, ensure_ascii=False),
        }

        def work(conn: Connection) -> None:
            conn.execute(insert(_C).values(**values))
            _set_metadata(conn, completion["id"], metadata)

        await self._db.write(work)

    async def get(self, owner: str, completion_id: str) -> StoredCompletion:
        """One of the project's completions; 404 when it has none of that id."""
        query = select(_C).where(_C.c.id == completion_id, _C.c.owner == owner)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise missing(completion_id)
        return _stored(row)

    async def get_many(self, owner: str, ids: Sequence[str]) -> dict[str, StoredCompletion]:
        """The project's completions among ``ids``, by id (one query)."""
        if not ids:
            return {}
        query = select(_C).where(_C.c.id.in_(list(ids)), _C.c.owner == owner)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.id: _stored(row) for row in rows}

    async def page(
        self,
        owner: str,
        *,
        model: str | None,
        metadata: Mapping[str, str],
        after: str | None,
        limit: int,
        order: Order,
    ) -> tuple[list[StoredCompletion], bool]:
        """A page of the project's completions by creation (``asc``) or its reverse, after
        the completion ``after``, and whether more follow; ``model`` and every ``metadata``
        pair must match."""
        query = select(_C).where(_C.c.owner == owner)
        if model is not None:
            query = query.where(_C.c.model == model)
        for key, value in metadata.items():
            query = query.where(
                exists().where(_M.c.completion_id == _C.c.id, _M.c.key == key, _M.c.value == value)
            )
        async with self._db.engine.connect() as conn:
            if after is not None:
                cursor = (
                    await conn.execute(
                        select(_C.c.seq).where(_C.c.id == after, _C.c.owner == owner)
                    )
                ).scalar_one_or_none()
                # An unknown cursor lists from the start, as the other lists do.
                if cursor is not None:
                    query = query.where(_C.c.seq > cursor if order == "asc" else _C.c.seq < cursor)
            ordering = _C.c.seq.asc() if order == "asc" else _C.c.seq.desc()
            rows = (await conn.execute(query.order_by(ordering).limit(limit + 1))).all()
        return [_stored(r) for r in rows[:limit]], len(rows) > limit

    async def update_metadata(
        self, owner: str, completion_id: str, metadata: Mapping[str, str]
    ) -> StoredCompletion:
        """Replace the completion's metadata; the completion as it is now."""

        def work(conn: Connection) -> bool:
            changed = conn.execute(
                update(_C)
                .where(_C.c.id == completion_id, _C.c.owner == owner)
                .values(metadata_json=json.dumps(dict(metadata)))
            ).rowcount
            if changed:
                _set_metadata(conn, completion_id, metadata)
            return bool(changed)

        if not await self._db.write(work):
            raise missing(completion_id)
        return await self.get(owner, completion_id)

    async def delete(self, owner: str, completion_id: str) -> None:
        """Forget the completion; 404 when the project has none of that id."""

        def work(conn: Connection) -> bool:
            owned = select(_C.c.id).where(_C.c.id == completion_id, _C.c.owner == owner)
            conn.execute(delete(_M).where(_M.c.completion_id.in_(owned)))
            gone = conn.execute(
                delete(_C).where(_C.c.id == completion_id, _C.c.owner == owner)
            ).rowcount
            return bool(gone)

        if not await self._db.write(work):
            raise missing(completion_id)
