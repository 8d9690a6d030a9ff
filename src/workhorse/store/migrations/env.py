"""Alembic environment: runs migrations on the URL that ``store.db.migrate`` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from workhorse.store.tables import Base

# Any number of processes may start at once; on PostgreSQL one advisory lock makes them
# take turns, and on SQLite the database file's write lock does the same.
_PG_MIGRATION_LOCK = 0x57484D47  # "WHMG"


def run_migrations() -> None:
    url: URL = context.config.attributes["url"]
    engine = create_engine(url)
    with engine.connect() as connection:
        if url.get_backend_name() == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=url.get_backend_name() == "sqlite",
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if url.get_backend_name() == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


run_migrations()
