"""The request inspector's record of recent requests.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_records",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("route", sa.String(256), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("content_type", sa.String(256), nullable=True),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=True),
        sa.Column("api_key_name", sa.String(256), nullable=True),
        sa.Column("project_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(400), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("idempotency", sa.String(24), nullable=True),
        sa.Column("client_retries", sa.Integer(), nullable=False),
        sa.Column("disconnected", sa.Boolean(), nullable=False),
        sa.Column("error_type", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_param", sa.String(256), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_json", sa.Text(), nullable=True),
        sa.Column("captured_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_request_records"),
    )
    for column in ("request_id", "trace_id", "at_ms"):
        op.create_index(f"ix_request_records_{column}", "request_records", [column])


def downgrade() -> None:
    op.drop_table("request_records")
