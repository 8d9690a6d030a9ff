"""The API key store on both databases: hashing, bootstrap exactly once, revocation,
rotation with a grace period, expiry, archived projects, and the last admin key kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from workhorse.errors import Conflict
from workhorse.governance.keys import PROJECT_SCOPES, KeyChanges, Scope
from workhorse.store.api_keys import ApiKeyStore, hash_key
from workhorse.store.db import migrate, open_database
from workhorse.store.projects import ProjectStore


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    url = f"sqlite:///{tmp_path / 'keys.db'}" if storage_mode == "sqlite" else new_database()
    migrate(url)
    return url


@asynccontextmanager
async def stores(
    url: str, cache_ttl_s: float = 0.0
) -> AsyncIterator[tuple[ApiKeyStore, ProjectStore]]:
    db = open_database(url)
    keys = ApiKeyStore(db.sessions, cache_ttl_s=cache_ttl_s)
    try:
        yield keys, ProjectStore(db.sessions, keys)
    finally:
        await db.dispose()


def test_migrations_are_idempotent(url: str) -> None:
    migrate(url)


def test_keys_are_stored_hashed_and_revocable(url: str) -> None:
    async def scenario() -> None:
        async with stores(url) as (keys, projects):
            await keys.bootstrap()
            project = await projects.create("app")
            record, secret = await keys.create("app", project.id)
            assert not record.is_admin
            assert record.scopes == PROJECT_SCOPES
            assert (await keys.authenticate(secret)) == record
            assert await keys.authenticate(secret + "x") is None
            db = open_database(url)
            async with db.engine.connect() as conn:
                stored = (
                    await conn.execute(
                        text("SELECT key_hash FROM api_keys WHERE id = :id"), {"id": record.id}
                    )
                ).scalar_one()
            await db.dispose()
            assert stored == hash_key(secret)
            assert secret not in stored
            await keys.revoke(record.id)
            assert await keys.authenticate(secret) is None

    asyncio.run(scenario())


def test_bootstrap_creates_one_admin_key_even_when_racing(url: str) -> None:
    async def scenario() -> int:
        dbs = [open_database(url) for _ in range(8)]
        try:
            results = await asyncio.gather(*(ApiKeyStore(db.sessions).bootstrap() for db in dbs))
            assert await ApiKeyStore(dbs[0].sessions).bootstrap() is None
            created = [r for r in results if r is not None]
            assert all(record.is_admin for record, _ in created)
            return len(created)
        finally:
            for db in dbs:
                await db.dispose()

    assert asyncio.run(scenario()) == 1


def test_the_first_key_of_an_install_is_an_admin_key_whatever_was_asked(url: str) -> None:
    async def scenario() -> None:
        async with stores(url) as (keys, projects):
            project = await projects.create("first")
            first, _ = await keys.create("first", project.id, frozenset({Scope.CHAT}))
            second, _ = await keys.create("second", project.id, frozenset({Scope.CHAT}))
            assert first.is_admin
            assert second.scopes == {Scope.CHAT}
            assert await keys.bootstrap() is None  # the server makes no other first key

    asyncio.run(scenario())


def test_a_rotated_key_keeps_its_id_and_the_old_secret_works_until_the_grace_ends(
    url: str,
) -> None:
    async def scenario() -> None:
        async with stores(url, cache_ttl_s=60) as (keys, projects):
            await keys.bootstrap()
            project = await projects.create("app")
            record, old = await keys.create("app", project.id)
            assert await keys.authenticate(old) is not None  # cached from here on
            rotated, new = await keys.rotate(record.id, grace_s=3600)
            assert rotated.id == record.id
            assert new != old
            assert (await keys.authenticate(new)) is not None
            assert (await keys.authenticate(old)) is not None  # within the grace period
            again, newest = await keys.rotate(record.id, grace_s=0)
            # Without grace, the secret replaced is refused at once, even on this cache.
            assert await keys.authenticate(new) is None
            # A second rotation ends the grace of the first secret too.
            assert await keys.authenticate(old) is None
            assert (await keys.authenticate(newest)) == again

    asyncio.run(scenario())


def test_the_grace_period_ends_by_the_clock(url: str) -> None:
    async def scenario() -> None:
        async with stores(url, cache_ttl_s=60) as (keys, projects):
            await keys.bootstrap()
            project = await projects.create("app")
            record, old = await keys.create("app", project.id)
            await keys.rotate(record.id, grace_s=3600)
            assert await keys.authenticate(old) is not None
            db = open_database(url)
            past = datetime.now(UTC) - timedelta(seconds=1)
            async with db.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE api_keys SET previous_valid_until = :t WHERE id = :id"),
                    {"t": past, "id": record.id},
                )
            await db.dispose()
        async with stores(url) as (fresh, _):
            assert await fresh.authenticate(old) is None

    asyncio.run(scenario())


def test_expired_keys_and_archived_projects_are_refused(url: str) -> None:
    async def scenario() -> None:
        async with stores(url, cache_ttl_s=60) as (keys, projects):
            await keys.bootstrap()
            project = await projects.create("app")
            soon = datetime.now(UTC) + timedelta(hours=1)
            record, secret = await keys.create("app", project.id, expires_at=soon)
            assert await keys.authenticate(secret) is not None
            await keys.update(record.id, KeyChanges(expires_at=datetime.now(UTC)))
            assert await keys.authenticate(secret) is None
            await keys.update(record.id, KeyChanges(clear_expiry=True))
            assert await keys.authenticate(secret) is not None
            await projects.archive(project.id)
            assert await keys.authenticate(secret) is None
            assert (await keys.get(record.id)).revoked_at is not None
            with pytest.raises(Conflict):
                await keys.create("late", project.id)

    asyncio.run(scenario())


def test_the_last_admin_key_cannot_be_revoked_demoted_or_archived(url: str) -> None:
    async def scenario() -> None:
        async with stores(url) as (keys, projects):
            created = await keys.bootstrap()
            assert created is not None
            admin, _ = created
            for attempt in (
                keys.revoke(admin.id),
                keys.revoke_id(admin.id),
                keys.update(admin.id, KeyChanges(scopes=frozenset({Scope.CHAT}))),
                projects.archive(admin.project_id),
            ):
                with pytest.raises(Conflict) as refused:
                    await attempt
                assert refused.value.code == "last_admin_key"
            other = await projects.create("ops")
            second, _ = await keys.create("ops-admin", other.id, frozenset(Scope))
            await keys.revoke_id(admin.id)
            with pytest.raises(Conflict):
                await keys.revoke_id(second.id)

    asyncio.run(scenario())
