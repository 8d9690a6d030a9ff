"""The key that added each vector store file, whose usage its ingestion's embeddings are.

Files added before have none: their ingestion records no usage.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch:
        batch.add_column(sa.Column("api_key_id", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch:
        batch.drop_column("api_key_id")
