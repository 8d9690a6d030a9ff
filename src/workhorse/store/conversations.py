"""Conversations and their items; an item's place is its ``seq``, given by the database.

Items belong to their conversation's owner: every query joins ``conversations`` on the
owner, so another owner's conversation reads exactly like a missing one.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from sqlalchemy import Row, Table, delete, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import Exists

from workhorse.api.conversations.items import StoredItem
from workhorse.errors import InvalidRequest, NotFound
from workhorse.store.db import Database
from workhorse.store.tables import Conversation, ConversationItem

_C = cast(Table, Conversation.__table__)
_I = cast(Table, ConversationItem.__table__)


@dataclass(frozen=True)
class ConversationRecord:
    """A stored conversation (its items are read separately)."""

    id: str
    owner: str
    metadata: dict[str, str]
    created_at: datetime


def _record(row: Row[tuple[object, ...]]) -> ConversationRecord:
    r = cast(Conversation, row)
    return ConversationRecord(r.id, r.owner, json.loads(r.metadata_json), r.created_at)


def _missing(conversation_id: str) -> NotFound:
    return NotFound(f"No conversation found with id '{conversation_id}'.")


def _missing_item(item_id: str, conversation_id: str) -> NotFound:
    return NotFound(f"No item found with id '{item_id}' in conversation '{conversation_id}'.")


def _item(item_json: str) -> StoredItem:
    item: StoredItem = json.loads(item_json)
    return item


def _owned(owner: str, conversation_id: str) -> Exists:
    """The condition that the conversation exists and belongs to ``owner``."""
    return select(_C.c.id).where(_C.c.id == conversation_id, _C.c.owner == owner).exists()


class ConversationStore:
    """Creates, reads, updates and deletes conversations, and appends, pages and deletes
    their items."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, owner: str, metadata: dict[str, str], items: list[StoredItem]
    ) -> ConversationRecord:
        """A new conversation holding ``items`` (already normalised), in one transaction."""
        record = ConversationRecord(
            "conv_" + secrets.token_hex(24), owner, dict(metadata), datetime.now(UTC)
        )

        def work(conn: Connection) -> None:
            conn.execute(
                _C.insert().values(
                    id=record.id,
                    owner=owner,
                    metadata_json=json.dumps(record.metadata),
                    created_at=record.created_at,
                )
            )
            self.append_items_in(conn, record.id, items)

        await self._db.write(work)
        return record

    async def page(
        self, owner: str, *, before: str | None, limit: int
    ) -> tuple[list[ConversationRecord], bool]:
        """The owner's conversations newest first, from just after ``before`` (a
        conversation id; an unknown one starts from the newest), and whether more follow.
        Keyset paging on ``(created_at, id)``: as fast on the thousandth page as the first."""
        query = select(_C).where(_C.c.owner == owner)
        async with self._db.engine.connect() as conn:
            if before is not None:
                cursor = (
                    await conn.execute(
                        select(_C.c.created_at, _C.c.id).where(
                            _C.c.id == before, _C.c.owner == owner
                        )
                    )
                ).first()
                if cursor is not None:
                    query = query.where(
                        tuple_(_C.c.created_at, _C.c.id) < tuple_(cursor.created_at, cursor.id)
                    )
            query = query.order_by(_C.c.created_at.desc(), _C.c.id.desc()).limit(limit + 1)
            rows = (await conn.execute(query)).all()
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    async def get(self, owner: str, conversation_id: str) -> ConversationRecord:
        """The owner's conversation; NotFound when missing or someone else's."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_C).where(_C.c.id == conversation_id, _C.c.owner == owner)
                )
            ).first()
        if row is None:
            raise _missing(conversation_id)
        return _record(row)

    async def update(
        self, owner: str, conversation_id: str, metadata: dict[str, str]
    ) -> ConversationRecord:
        """Replace the conversation's metadata."""

        def work(conn: Connection) -> Row[tuple[object, ...]] | None:
            return conn.execute(
                update(_C)
                .where(_C.c.id == conversation_id, _C.c.owner == owner)
                .values(metadata_json=json.dumps(metadata))
                .returning(*_C.c)
            ).first()

        row = await self._db.write(work)
        if row is None:
            raise _missing(conversation_id)
        return _record(row)

    async def delete(self, owner: str, conversation_id: str) -> None:
        """Delete the conversation; its items go with it (ON DELETE CASCADE)."""

        def work(conn: Connection) -> int:
            result = conn.execute(delete(_C).where(_C.c.id == conversation_id, _C.c.owner == owner))
            return result.rowcount

        if await self._db.write(work) == 0:
            raise _missing(conversation_id)

    async def add_items(
        self, owner: str, conversation_id: str, items: list[StoredItem]
    ) -> list[StoredItem]:
        """Append ``items`` (already normalised) after the conversation's last item."""

        def work(conn: Connection) -> bool:
            if not conn.execute(select(_owned(owner, conversation_id))).scalar_one():
                return False
            self.append_items_in(conn, conversation_id, items)
            return True

        try:
            found = await self._db.write(work)
        except IntegrityError as exc:  # the conversation was deleted meanwhile
            raise _missing(conversation_id) from exc
        if not found:
            raise _missing(conversation_id)
        return items

    async def list_items(
        self,
        owner: str,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
    ) -> tuple[list[StoredItem], bool]:
        """A page of the conversation's items in insertion order (or its reverse), and
        whether more follow. ``after`` is an item id of this conversation (400 if not)."""
        query = select(_I.c.item_json).where(_I.c.conversation_id == conversation_id)
        async with self._db.engine.connect() as conn:
            if not (await conn.execute(select(_owned(owner, conversation_id)))).scalar_one():
                raise _missing(conversation_id)
            if after is not None:
                cursor = (
                    await conn.execute(
                        select(_I.c.seq).where(
                            _I.c.id == after, _I.c.conversation_id == conversation_id
                        )
                    )
                ).scalar_one_or_none()
                if cursor is None:
                    raise InvalidRequest(
                        f"No item found with id '{after}' in conversation '{conversation_id}'.",
                        param="after",
                    )
                query = query.where(_I.c.seq > cursor if order == "asc" else _I.c.seq < cursor)
            query = query.order_by(_I.c.seq.asc() if order == "asc" else _I.c.seq.desc())
            rows = (await conn.execute(query.limit(limit + 1))).scalars().all()
        return [_item(r) for r in rows[:limit]], len(rows) > limit

    async def get_item(self, owner: str, conversation_id: str, item_id: str) -> StoredItem:
        """One item of the owner's conversation."""
        async with self._db.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(_C.c.id, _I.c.item_json)
                    .outerjoin(_I, (_I.c.conversation_id == _C.c.id) & (_I.c.id == item_id))
                    .where(_C.c.id == conversation_id, _C.c.owner == owner)
                )
            ).first()
        if found is None:
            raise _missing(conversation_id)
        if found.item_json is None:
            raise _missing_item(item_id, conversation_id)
        return _item(found.item_json)

    async def delete_item(self, owner: str, conversation_id: str, item_id: str) -> None:
        """Delete one item of the owner's conversation."""

        def work(conn: Connection) -> tuple[bool, int]:
            if not conn.execute(select(_owned(owner, conversation_id))).scalar_one():
                return False, 0
            result = conn.execute(
                delete(_I).where(_I.c.id == item_id, _I.c.conversation_id == conversation_id)
            )
            return True, result.rowcount

        found, deleted = await self._db.write(work)
        if not found:
            raise _missing(conversation_id)
        if deleted == 0:
            raise _missing_item(item_id, conversation_id)

    async def all_items(self, owner: str, conversation_id: str) -> list[StoredItem]:
        """Every item of the owner's conversation, oldest first, in one query."""
        async with self._db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(_C.c.id, _I.c.item_json)
                    .outerjoin(_I, _I.c.conversation_id == _C.c.id)
                    .where(_C.c.id == conversation_id, _C.c.owner == owner)
                    .order_by(_I.c.seq.asc())
                )
            ).all()
        if not rows:
            raise _missing(conversation_id)
        return [_item(r.item_json) for r in rows if r.item_json is not None]

    async def recent_items(
        self, owner: str, conversation_id: str, *, limit: int
    ) -> tuple[list[tuple[StoredItem, datetime]], bool]:
        """The conversation's last ``limit`` items with the time each was added, oldest
        first, and whether earlier ones exist; NotFound when it is missing."""
        async with self._db.engine.connect() as conn:
            if not (await conn.execute(select(_owned(owner, conversation_id)))).scalar_one():
                raise _missing(conversation_id)
            rows = (
                await conn.execute(
                    select(_I.c.item_json, _I.c.created_at)
                    .where(_I.c.conversation_id == conversation_id)
                    .order_by(_I.c.seq.desc())
                    .limit(limit + 1)
                )
            ).all()
        kept = [(_item(r.item_json), r.created_at) for r in rows[:limit]]
        kept.reverse()
        return kept, len(rows) > limit

    def append_items_in(
        self, conn: Connection, conversation_id: str, items: list[StoredItem]
    ) -> None:
        """Append ``items`` in the caller's write transaction (``Database.write``); the
        caller has checked that the conversation is there and whose it is."""
        if not items:
            return
        now = datetime.now(UTC)
        # executemany runs the rows in list order, so their seq follow it.
        conn.execute(
            _I.insert(),
            [
                {
                    "id": item["id"],
                    "conversation_id": conversation_id,
                    "item_json": json.dumps(item),
                    "created_at": now,
                }
                for item in items
            ],
        )
