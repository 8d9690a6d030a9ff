"""Conversations and their items.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(40), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index(op.f("ix_conversations_owner"), "conversations", ["owner"])
    op.create_table(
        "conversation_items",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("item_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_items_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_conversation_items")),
        sa.UniqueConstraint("id", name=op.f("uq_conversation_items_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_conversation_items_conversation_id"), "conversation_items", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_conversation_items_conversation_id"), table_name="conversation_items")
    op.drop_table("conversation_items")
    op.drop_index(op.f("ix_conversations_owner"), table_name="conversations")
    op.drop_table("conversations")
