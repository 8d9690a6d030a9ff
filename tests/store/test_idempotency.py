"""The idempotency store on both databases: one winner per key, replay, takeover, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from workhorse.store.db import migrate, open_database
from workhorse.store.idempotency import (
    Claimed,
    IdempotencyStore,
    Mismatch,
    Running,
    Scope,
    StoredResponse,
)

SCOPE = Scope("key_1", "POST", "/v1/chat/completions", "abc")


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    target = f"sqlite:///{tmp_path / 'idem.db'}" if storage_mode == "sqlite" else new_database()
    migrate(target)
    return target


def test_one_claim_wins_across_engines(url: str) -> None:
    async def scenario() -> list[object]:
        dbs = [open_database(url) for _ in range(10)]
        try:
            stores = [
                IdempotencyStore(db, ttl=timedelta(hours=1), lease=timedelta(minutes=5))
                for db in dbs
            ]
            return list(
                await asyncio.gather(
                    *(store.claim(SCOPE, "f" * 64, f"req{i}") for i, store in enumerate(stores))
                )
            )
        finally:
            for db in dbs:
                await db.dispose()

    results = asyncio.run(scenario())
    assert sum(isinstance(r, Claimed) for r in results) == 1
    assert all(isinstance(r, Claimed | Running) for r in results)


def test_complete_replay_mismatch_release(url: str) -> None:
    async def scenario() -> None:
        db = open_database(url)
        store = IdempotencyStore(db, ttl=timedelta(hours=1), lease=timedelta(minutes=5))
        try:
            claim = await store.claim(SCOPE, "a" * 64, "r1")
            assert isinstance(claim, Claimed)
            stored = StoredResponse(201, [("content-type", "application/json")], b'{"ok":1}')
            await store.complete(claim, stored)
            assert await store.claim(SCOPE, "a" * 64, "r2") == stored
            assert isinstance(await store.claim(SCOPE, "b" * 64, "r3"), Mismatch)
            other = Scope("key_1", "POST", "/v1/embeddings", "abc")
            second = await store.claim(other, "a" * 64, "r4")
            assert isinstance(second, Claimed)
            await store.release(second)
            assert isinstance(await store.claim(other, "a" * 64, "r5"), Claimed)
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_dead_claims_are_taken_over_and_expired_ones_forgotten(url: str) -> None:
    async def scenario() -> None:
        db = open_database(url)
        try:
            no_lease = IdempotencyStore(db, ttl=timedelta(hours=1), lease=timedelta(0))
            assert isinstance(await no_lease.claim(SCOPE, "a" * 64, "r1"), Claimed)
            assert isinstance(await no_lease.claim(SCOPE, "a" * 64, "r2"), Claimed)  # takeover
            expired = IdempotencyStore(db, ttl=timedelta(0), lease=timedelta(hours=1))
            scope = Scope("key_1", "POST", "/v1/x", "old")
            assert isinstance(await expired.claim(scope, "a" * 64, "r1"), Claimed)
            assert isinstance(await expired.claim(scope, "b" * 64, "r2"), Claimed)
            assert await expired.purge_expired() >= 1
        finally:
            await db.dispose()

    asyncio.run(scenario())
