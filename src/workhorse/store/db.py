"""Database engines and sessions for SQLite (WAL) and PostgreSQL, and migrations.

The application uses SQLAlchemy's asyncio API (aiosqlite, psycopg); Alembic runs the
migrations over the equivalent synchronous driver.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from workhorse.errors import ServiceUnavailable, WorkhorseError

T = TypeVar("T")

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
    # WAL is a property of the file, set once by ``migrate``: switching it here would
    # take a lock that a process's first connections contend for.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class _SqliteWriter:
    """One thread that runs every write transaction of this process on SQLite.

    A whole transaction crosses to the thread once, instead of every statement hopping
    through aiosqlite; and this process's writers queue here rather than meeting in
    SQLite's busy handler, whose retry sleeps cost far more than the wait.
    """

    def __init__(self, url: URL) -> None:
        self.engine = create_engine(url)
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    def run(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.engine.dispose()


class WriteStats:
    """How write transactions waited, for the metrics (updated from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = 0
        self.started = 0
        self.waited_s = 0.0

    def queued(self) -> list[float]:
        """A ticket for one write: when it was queued, until it begins or is abandoned."""
        with self._lock:
            self.waiting += 1
        return [time.perf_counter()]

    def began(self, ticket: list[float]) -> None:
        with self._lock:
            if ticket:
                self.waiting -= 1
                self.started += 1
                self.waited_s += time.perf_counter() - ticket.pop()

    def abandoned(self, ticket: list[float]) -> None:
        """The write never began (cancelled, or no connection)."""
        with self._lock:
            if ticket:
                ticket.pop()
                self.waiting -= 1

    def read(self) -> tuple[int, int, float]:
        """Writes waiting now, writes begun, seconds they waited in all."""
        with self._lock:
            return self.waiting, self.started, self.waited_s


@dataclass
class Database:
    """An engine and its session factory."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _writer: _SqliteWriter | None = None
    writes: WriteStats = field(default_factory=WriteStats)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction (synchronous code, on either backend)."""
        stats = self.writes
        ticket = stats.queued()
        try:
            if self._writer is None:
                async with self.engine.begin() as conn:
                    stats.began(ticket)
                    return await conn.run_sync(work)
            writer = self._writer

            def run() -> T:
                stats.began(ticket)
                return writer.run(work)

            loop = asyncio.get_running_loop()
            # In the caller's context, so that the statements' spans join its trace.
            return await loop.run_in_executor(writer.thread, contextvars.copy_context().run, run)
        finally:
            stats.abandoned(ticket)

    def sync_engines(self) -> list[Engine]:
        """The synchronous engines under this database (for instrumentation)."""
        engines = [self.engine.sync_engine]
        if self._writer is not None:
            engines.append(self._writer.engine)
        return engines

    def pool_state(self) -> tuple[int, int]:
        """Connections checked out of the pool, and idle in it."""
        pool: Any = self.engine.sync_engine.pool
        in_use = int(pool.checkedout()) if hasattr(pool, "checkedout") else 0
        idle = int(pool.checkedin()) if hasattr(pool, "checkedin") else 0
        return in_use, idle

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def call(self, statement: str, params: dict[str, Any]) -> Any:
        """PostgreSQL: the value ``statement`` (one statement that is its own transaction:
        a database function that locks, reads and writes) returns, straight on the
        driver: no BEGIN or COMMIT round trip, no statement compiling."""
        async with self.engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            await driver.set_autocommit(True)
            try:
                cursor = await driver.execute(statement, params)
                row = await cursor.fetchone()
            finally:
                await driver.set_autocommit(False)
            return row[0] if row else None

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
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)


def open_database(url: str) -> Database:
    """Create the engine for ``url``; connects lazily."""
    target = async_url(url)
    if target.get_backend_name() != "sqlite":
        engine = create_async_engine(target, pool_pre_ping=True)
        return Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    # Every checkout here ends in commit or rollback (engine.begin, sessions), so
    # SQLite connections skip the reset-on-return ROLLBACK: one thread hop less each.
    engine = create_async_engine(target, pool_reset_on_return=None)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False),
        _SqliteWriter(sync_url(url)),
    )


def migrate(url: str, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (safe to run from several processes)."""
    target = sync_url(url)
    if target.get_backend_name() == "sqlite" and target.database:
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("workhorse.store") / "migrations")
    )
    config.attributes["url"] = target
    command.upgrade(config, revision)
    if target.get_backend_name() == "sqlite" and target.database:
        with closing(sqlite3.connect(target.database, timeout=10)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
