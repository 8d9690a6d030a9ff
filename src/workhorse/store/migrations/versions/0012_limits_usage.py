"""Limits of keys and projects, the state that enforces them, and usage records.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COUNTERS = (
    "requests",
    "errors",
    "model_requests",
    "input_tokens",
    "output_tokens",
    "trained_tokens",
    "stored_bytes",
)


def upgrade() -> None:
    for table in ("projects", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("limits_json", sa.Text(), nullable=True))
    for table in ("responses", "fine_tuning_jobs"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("api_key_id", sa.String(40), nullable=True))
    op.create_table(
        "limit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("subject", sa.String(48), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reservation", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_limit_events"),
    )
    op.create_index("ix_limit_events_subject_kind_at", "limit_events", ["subject", "kind", "at_ms"])
    op.create_index("ix_limit_events_reservation", "limit_events", ["reservation"])
    op.create_table(
        "limit_leases",
        sa.Column("subject", sa.String(48), nullable=False),
        sa.Column("reservation", sa.String(80), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "reservation", name="pk_limit_leases"),
    )
    op.create_table(
        "budget_use",
        sa.Column("subject", sa.String(48), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "period", name="pk_budget_use"),
    )
    op.create_table(
        "token_reservations",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("subjects_json", sa.Text(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_token_reservations"),
    )
    op.create_table(
        "usage_records",
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint(
            "project_id", "api_key_id", "model", "api", "minute", name="pk_usage_records"
        ),
    )


def downgrade() -> None:
    for table in ("usage_records", "token_reservations", "budget_use", "limit_leases"):
        op.drop_table(table)
    op.drop_index("ix_limit_events_reservation", "limit_events")
    op.drop_index("ix_limit_events_subject_kind_at", "limit_events")
    op.drop_table("limit_events")
    for table in ("responses", "fine_tuning_jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("api_key_id")
    for table in ("projects", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("limits_json")
