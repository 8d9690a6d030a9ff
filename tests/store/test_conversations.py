"""The conversation store on both databases: order, pages, owners, cascade, concurrent appends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from workhorse.api.conversations.items import StoredItem, assistant_message, new_item_id
from workhorse.errors import InvalidRequest, NotFound
from workhorse.store.conversations import ConversationStore
from workhorse.store.db import Database, migrate, open_database
from workhorse.store.tables import ConversationItem

T = TypeVar("T")


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    if storage_mode == "sqlite":
        return f"sqlite:///{tmp_path / 'conversations.db'}"
    return new_database()


def user(text_: str) -> StoredItem:
    return {
        "type": "message",
        "id": new_item_id("message"),
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": text_}],
    }


def run(url: str, scenario: Callable[[Database, ConversationStore], Awaitable[T]]) -> T:
    migrate(url)

    async def main() -> T:
        db = open_database(url)
        try:
            return await scenario(db, ConversationStore(db))
        finally:
            await db.dispose()

    return asyncio.run(main())


def test_items_keep_insertion_order_and_page_both_ways(url: str) -> None:
    async def scenario(_db: Database, store: ConversationStore) -> None:
        items = [user(str(i)) for i in range(5)]
        conversation = await store.create("owner", {"k": "v"}, items[:3])
        await store.add_items("owner", conversation.id, items[3:])
        ids = [i["id"] for i in items]
        assert [i["id"] for i in await store.all_items("owner", conversation.id)] == ids
        page, more = await store.list_items(
            "owner", conversation.id, after=None, limit=2, order="asc"
        )
        assert [i["id"] for i in page] == ids[:2]
        assert more
        page, more = await store.list_items(
            "owner", conversation.id, after=ids[1], limit=10, order="asc"
        )
        assert [i["id"] for i in page] == ids[2:]
        assert not more
        page, more = await store.list_items(
            "owner", conversation.id, after=ids[3], limit=2, order="desc"
        )
        assert [i["id"] for i in page] == [ids[2], ids[1]]
        assert more
        with pytest.raises(InvalidRequest) as caught:
            await store.list_items("owner", conversation.id, after="msg_x", limit=2, order="asc")
        assert caught.value.param == "after"

    run(url, scenario)


def test_another_owner_sees_nothing(url: str) -> None:
    async def scenario(_db: Database, store: ConversationStore) -> None:
        item = user("secret")
        conversation = await store.create("alice", {}, [item])
        attempts: list[Awaitable[object]] = [
            store.get("mallory", conversation.id),
            store.update("mallory", conversation.id, {"x": "y"}),
            store.add_items("mallory", conversation.id, [user("x")]),
            store.list_items("mallory", conversation.id, after=None, limit=5, order="asc"),
            store.get_item("mallory", conversation.id, item["id"]),
            store.delete_item("mallory", conversation.id, item["id"]),
            store.all_items("mallory", conversation.id),
            store.delete("mallory", conversation.id),
        ]
        for attempt in attempts:
            with pytest.raises(NotFound):
                await attempt
        assert await store.all_items("alice", conversation.id) == [item]
        assert (await store.get("alice", conversation.id)).metadata == {}

    run(url, scenario)


def test_deleting_a_conversation_deletes_its_items(url: str) -> None:
    async def scenario(db: Database, store: ConversationStore) -> int:
        conversation = await store.create("owner", {}, [user("a"), user("b")])
        kept = await store.create("owner", {}, [user("c")])
        await store.delete("owner", conversation.id)
        with pytest.raises(NotFound):
            await store.get("owner", conversation.id)
        async with db.engine.connect() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(ConversationItem))
            ).scalar_one()
        assert await store.all_items("owner", kept.id) != []
        return int(count)

    assert run(url, scenario) == 1


def test_items_append_inside_a_callers_transaction(url: str) -> None:
    async def scenario(db: Database, store: ConversationStore) -> None:
        conversation = await store.create("owner", {}, [])
        answer = assistant_message("hello")

        def work(conn: Connection) -> None:
            store.append_items_in(conn, conversation.id, [answer])
            raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await db.write(work)
        assert await store.all_items("owner", conversation.id) == []
        await db.write(lambda conn: store.append_items_in(conn, conversation.id, [answer]))
        assert await store.get_item("owner", conversation.id, answer["id"]) == answer

    run(url, scenario)


def test_concurrent_appends_from_two_processes_all_land_in_order(url: str) -> None:
    async def scenario(_db: Database, store: ConversationStore) -> None:
        conversation = await store.create("owner", {}, [])
        other_db = open_database(url)  # a second engine stands for a second process
        other = ConversationStore(other_db)
        try:
            batches = [[user(f"{n}.{i}") for i in range(3)] for n in range(10)]
            await asyncio.gather(
                *(
                    (store if n % 2 else other).add_items("owner", conversation.id, batch)
                    for n, batch in enumerate(batches)
                )
            )
        finally:
            await other_db.dispose()
        stored = [item_text(i) for i in await store.all_items("owner", conversation.id)]
        assert sorted(stored) == sorted(item_text(i) for b in batches for i in b)
        for batch in batches:  # batches may interleave; each keeps its own order
            positions = [stored.index(item_text(i)) for i in batch]
            assert positions == sorted(positions)

    run(url, scenario)


def item_text(item: StoredItem) -> str:
    return str(item["content"][0]["text"])
