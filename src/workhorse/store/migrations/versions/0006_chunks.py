"""Knowledge-base chunks: text, embedding, full-text index; per-store index generations.

SQLite: an FTS5 table over the chunks' text (external content, kept in sync by
triggers, so in the same transaction as the rows). PostgreSQL: the pgvector extension,
a ``vector`` column, and a generated ``tsvector`` column with a GIN index. The HNSW index
needs a fixed dimension, so ``knowledge.pg_index`` creates it at start-up for the
configured one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


class _Vector(sa.types.UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


# A later migration that alters knowledge_chunks in batch mode (a table copy on SQLite)
# drops these triggers and must create them again.
_SQLITE_FTS = [
    """
    CREATE VIRTUAL TABLE knowledge_chunks_fts USING fts5(
        text, content='knowledge_chunks', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER knowledge_chunks_fts_insert AFTER INSERT ON knowledge_chunks BEGIN
        INSERT INTO knowledge_chunks_fts(rowid, text) VALUES (new.id, new.text);
    END
    """,
    """
    CREATE TRIGGER knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN
        INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END
    """,
    """
    CREATE TRIGGER knowledge_chunks_fts_update AFTER UPDATE OF text ON knowledge_chunks BEGIN
        INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO knowledge_chunks_fts(rowid, text) VALUES (new.id, new.text);
    END
    """,
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "knowledge_chunks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("vector_store_id", sa.String(64), nullable=False),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("embedding", _Vector() if postgres else sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunks")),
        sa.UniqueConstraint(
            "vector_store_id",
            "file_id",
            "chunk_index",
            name=op.f("uq_knowledge_chunks_vector_store_id"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "knowledge_index_state",
        sa.Column("vector_store_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("vector_store_id", name=op.f("pk_knowledge_index_state")),
    )
    if postgres:
        op.execute(
            "ALTER TABLE knowledge_chunks ADD COLUMN text_search tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_knowledge_chunks_text_search ON knowledge_chunks "
            "USING gin (text_search)"
        )
    else:
        for statement in _SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS knowledge_chunks_fts")
    op.drop_table("knowledge_index_state")
    op.drop_table("knowledge_chunks")
