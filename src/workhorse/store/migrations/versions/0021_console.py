"""The web console: signed-in sessions; conversations listed newest first; a
conversation's running response found by its id.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name="fk_console_sessions_api_key_id_api_keys",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_console_sessions_token_hash"),
    )
    op.create_index("ix_console_sessions_api_key_id", "console_sessions", ["api_key_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_index(
        "ix_conversations_owner_created", "conversations", ["owner", "created_at", "id"]
    )
    op.create_index("ix_responses_conversation_id", "responses", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_responses_conversation_id", "responses")
    op.drop_index("ix_conversations_owner_created", "conversations")
    op.drop_table("console_sessions")
