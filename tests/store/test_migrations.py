"""The migrations build exactly the schema the table definitions describe, on both
databases: a column, index or constraint added to one and not the other fails here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from workhorse.store.db import migrate, sync_url
from workhorse.store.tables import Base

# The word indexes each backend builds its own way (knowledge/sqlite_index.py, pg_index.py):
# SQLite's FTS5 tables, PostgreSQL's generated tsvector column and its index.
BACKEND_OWNED = {
    ("column", "text_search"),
    ("index", "ix_knowledge_chunks_text_search"),
}


def _declared(name: str | None, kind: str, parents: object) -> bool:
    if name is None:
        return True
    if kind == "table" and name.startswith("knowledge_chunks_fts"):
        return False
    return (kind, name) not in BACKEND_OWNED


# pgvector's type is not one SQLAlchemy reflects; the column's presence is still compared.
@pytest.mark.filterwarnings("ignore:Did not recognize type 'vector'")
def test_the_migrated_schema_is_the_declared_one(
    storage_mode: str, tmp_path: Path, new_database: Callable[[], str]
) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}" if storage_mode == "sqlite" else new_database()
    migrate(url)
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": _declared})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "\n".join(map(str, differences))
