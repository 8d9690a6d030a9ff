"""The response store on both databases: ordered appends under a lease, takeover, chains."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from workhorse.errors import NotFound
from workhorse.store.db import migrate, open_database
from workhorse.store.responses import Completion, LeaseLost, ResponseStore, StoredResponse

T = TypeVar("T")


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    if storage_mode == "sqlite":
        return f"sqlite:///{tmp_path / 'responses.db'}"
    return new_database()


def run(url: str, lease_s: float, scenario: Callable[[ResponseStore], Awaitable[T]]) -> T:
    migrate(url)

    async def main() -> T:
        db = open_database(url)
        try:
            return await scenario(ResponseStore(db, lease=timedelta(seconds=lease_s)))
        finally:
            await db.dispose()

    return asyncio.run(main())


def response(response_id: str, previous: str | None = None, owner: str = "key_a") -> StoredResponse:
    return StoredResponse(
        id=response_id,
        owner=owner,
        model="m",
        status="in_progress",
        background=True,
        stored=True,
        previous_response_id=previous,
        conversation_id=None,
        request={"generation": {}},
        input_items=[{"id": f"in-{response_id}"}],
        object={"id": response_id, "output": [{"id": f"out-{response_id}"}]},
        next_seq=0,
        attempts=1,
        cancel_requested=False,
        created_at=datetime.now(UTC),
    )


def event(seq: int) -> dict[str, object]:
    return {"type": "response.output_text.delta", "sequence_number": seq, "delta": "x"}


def test_appends_must_follow_on_from_the_stored_log(url: str) -> None:
    async def scenario(store: ResponseStore) -> None:
        await store.create(response("r1"), [event(0)])
        assert await store.append("r1", 1, [event(1), event(2)]) is False
        with pytest.raises(LeaseLost):
            await store.append("r1", 1, [event(1)])  # a second writer for seq 1
        assert [e["sequence_number"] for e in await store.events_after("r1", -1)] == [0, 1, 2]
        assert [e["sequence_number"] for e in await store.events_after("r1", 1)] == [2]

    run(url, 30, scenario)


def test_cancel_requests_reach_the_writer_and_the_end_is_final(url: str) -> None:
    async def scenario(store: ResponseStore) -> None:
        await store.create(response("r1"), [])
        await store.request_cancel("key_a", "r1")
        assert await store.append("r1", 0, []) is True
        await store.finish("r1", 0, [event(0)], Completion("cancelled", {"id": "r1"}))
        assert (await store.get("key_a", "r1")).status == "cancelled"
        with pytest.raises(LeaseLost):
            await store.append("r1", 1, [event(1)])  # ended: nobody writes any more

    run(url, 30, scenario)


def test_only_an_expired_lease_can_be_claimed_and_only_once(url: str) -> None:
    async def scenario(store: ResponseStore) -> None:
        await store.create(response("r1"), [])
        assert await store.claim("r1") is None  # its holder is alive
        await asyncio.sleep(0.3)
        assert await store.expired() == ["r1"]
        claims = await asyncio.gather(store.claim("r1"), store.claim("r1"))
        taken = [c for c in claims if c is not None]
        assert len(taken) == 1
        assert taken[0].attempts == 2
        assert await store.expired() == []

    run(url, 0.2, scenario)


def test_chains_come_oldest_first_and_stay_with_their_owner(url: str) -> None:
    async def scenario(store: ResponseStore) -> None:
        await store.create(response("r1"), [])
        await store.create(response("r2", previous="r1"), [])
        await store.create(response("r3", previous="r2"), [])
        chain = await store.chain("key_a", "r3")
        assert [r.id for r in chain] == ["r1", "r2", "r3"]
        with pytest.raises(NotFound):
            await store.chain("key_b", "r3")
        await store.delete("key_a", "r2")
        assert [r.id for r in await store.chain("key_a", "r3")] == ["r3"]

    run(url, 30, scenario)
