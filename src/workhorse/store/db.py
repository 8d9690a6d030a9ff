"""Database engines and sessions for SQLite (WAL) and PostgreSQL, and migrations.

The application uses SQLAlchemy's asyncio API (aiosqlite, psycopg); Alembic runs the
migrations over the equivalent synchronous driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from workhorse.errors import ServiceUnavailable, WorkhorseError

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


class DatabaseConfigError(WorkhorseError):
    """The database URL names an unsupported backend."""


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise DatabaseConfigError(
            f"unsupported database backend {backend!r}; use sqlite or postgresql"
        )
    return parsed.set(drivername=drivers[backend])


def async_url(url: str) -> URL:
    """The URL with the asyncio driver of its backend."""
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> URL:
    """The URL with the synchronous driver of its backend (for Alembic)."""
    return _with_driver(url, _SYNC_DRIVERS)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@dataclass
class Database:
    """An engine and its session factory."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _write_lock: asyncio.Lock | None = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. On SQLite, this process's writers take turns first: the
        database admits one writer at a time anyway, and waiting on a lock is far cheaper
        than SQLite's busy-retry sleeps."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers a trivial query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise ServiceUnavailable("database is not reachable") from exc

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def open_database(url: str) -> Database:
    """Create the engine for ``url``; connects lazily."""
    target = async_url(url)
    sqlite = target.get_backend_name() == "sqlite"
    # Every checkout here ends in commit or rollback (engine.begin, sessions), so
    # SQLite connections skip the reset-on-return ROLLBACK: one thread hop less each.
    engine = create_async_engine(
        target, pool_pre_ping=not sqlite, pool_reset_on_return=None if sqlite else "rollback"
    )
    if target.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return Database(
        engine=engine,
        sessions=async_sessionmaker(engine, expire_on_commit=False),
        _write_lock=asyncio.Lock() if target.get_backend_name() == "sqlite" else None,
    )


def migrate(url: str) -> None:
    """Apply every Alembic migration up to head (safe to run from several processes)."""
    target = sync_url(url)
    if target.get_backend_name() == "sqlite" and target.database:
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("workhorse.store") / "migrations")
    )
    config.attributes["url"] = target
    command.upgrade(config, "head")
