"""Chat completions created with ``store: true``, and their metadata pairs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_completions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("messages_json", sa.Text(), nullable=False),
        sa.Column("completion_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_chat_completions"),
        sa.UniqueConstraint("id", name="uq_chat_completions_id"),
    )
    op.create_index("ix_chat_completions_owner_seq", "chat_completions", ["owner", "seq"])
    op.create_table(
        "chat_completion_metadata",
        sa.Column("completion_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.ForeignKeyConstraint(
            ["completion_id"],
            ["chat_completions.id"],
            name="fk_chat_completion_metadata_completion_id_chat_completions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("completion_id", "key", name="pk_chat_completion_metadata"),
    )
    op.create_index("ix_chat_completion_metadata_value", "chat_completion_metadata", ["value"])


def downgrade() -> None:
    op.drop_table("chat_completion_metadata")
    op.drop_table("chat_completions")
