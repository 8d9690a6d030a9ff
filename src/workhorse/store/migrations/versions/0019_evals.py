"""Evals, their runs, the runs' graded items, per-criterion counts and model usage.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "evals",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("data_source_config_json", sa.Text(), nullable=False),
        sa.Column("testing_criteria_json", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_evals"),
        sa.UniqueConstraint("id", name="uq_evals_id"),
    )
    op.create_index("ix_evals_owner_seq", "evals", ["owner", "seq"])
    op.create_table(
        "eval_runs",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("eval_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=True),
        sa.Column("traceparent", sa.String(55), nullable=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("model", sa.String(400), nullable=True),
        sa.Column("data_source_json", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("items_sha256", sa.String(64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_json", sa.Text(), nullable=True),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errored", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["eval_id"], ["evals.id"], name="fk_eval_runs_eval_id_evals", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_eval_runs"),
        sa.UniqueConstraint("id", name="uq_eval_runs_id"),
    )
    op.create_index("ix_eval_runs_eval_seq", "eval_runs", ["eval_id", "seq"])
    op.create_index("ix_eval_runs_status", "eval_runs", ["status"])
    op.create_table(
        "eval_output_items",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("datasource_item_json", sa.Text(), nullable=False),
        sa.Column("results_json", sa.Text(), nullable=False),
        sa.Column("sample_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name="fk_eval_output_items_run_id_eval_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_eval_output_items"),
        sa.UniqueConstraint("id", name="uq_eval_output_items_id"),
        sa.UniqueConstraint("run_id", "item_index", name="uq_eval_output_items_run_id"),
    )
    op.create_index("ix_eval_output_items_run_seq", "eval_output_items", ["run_id", "seq"])
    for table, key in (
        ("eval_run_criteria", ("position", sa.Integer())),
        ("eval_run_usage", ("model", sa.String(400))),
    ):
        counts = (
            [
                sa.Column("name", sa.String(256), nullable=False),
                sa.Column("passed", sa.Integer(), nullable=False),
                sa.Column("failed", sa.Integer(), nullable=False),
            ]
            if table == "eval_run_criteria"
            else [
                sa.Column("invocations", sa.Integer(), nullable=False),
                sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
                sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
            ]
        )
        op.create_table(
            table,
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column(key[0], key[1], nullable=False),
            *counts,
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["eval_runs.id"],
                name=f"fk_{table}_run_id_eval_runs",
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("run_id", key[0], name=f"pk_{table}"),
        )


def downgrade() -> None:
    for table in ("eval_run_usage", "eval_run_criteria", "eval_output_items", "eval_runs"):
        op.drop_table(table)
    op.drop_table("evals")
