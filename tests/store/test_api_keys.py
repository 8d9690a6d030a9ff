"""The API key store on both databases: hashing, bootstrap exactly once, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from workhorse.store.api_keys import ApiKeyStore, hash_key
from workhorse.store.db import migrate, open_database


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    if storage_mode == "sqlite":
        return f"sqlite:///{tmp_path / 'keys.db'}"
    return new_database()


def test_migrations_are_idempotent(url: str) -> None:
    migrate(url)
    migrate(url)


def test_keys_are_stored_hashed_and_revocable(url: str) -> None:
    migrate(url)

    async def scenario() -> None:
        db = open_database(url)
        keys = ApiKeyStore(db.sessions)
        try:
            record, secret = await keys.create("app")
            assert (await keys.authenticate(secret)) == record
            assert await keys.authenticate(secret + "x") is None
            from sqlalchemy import text

            async with db.engine.connect() as conn:
                stored = (await conn.execute(text("SELECT key_hash FROM api_keys"))).scalar_one()
            assert stored == hash_key(secret)
            assert secret not in stored
            await keys.revoke(record.id)
            assert await keys.authenticate(secret) is None
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_bootstrap_creates_one_key_even_when_racing(url: str) -> None:
    migrate(url)

    async def scenario() -> int:
        stores = [open_database(url) for _ in range(8)]
        try:
            results = await asyncio.gather(*(ApiKeyStore(db.sessions).bootstrap() for db in stores))
            assert await ApiKeyStore(stores[0].sessions).bootstrap() is None
            return sum(r is not None for r in results)
        finally:
            for db in stores:
                await db.dispose()

    assert asyncio.run(scenario()) == 1
