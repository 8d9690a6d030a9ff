"""Projects own resources; keys belong to a project and carry scopes, models and expiry.

Each existing key becomes a project of its own (``proj_`` and the key's hex), and every
resource it owned moves to that project, so nothing changes owner or visibility. The
install's first key (the bootstrap marker's) becomes an admin key; every other key gets
every scope but ``admin``, which is all any key could do before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OWNED = (
    "files",
    "conversations",
    "responses",
    "vector_stores",
    "vector_store_files",
    "vector_store_file_batches",
    "uploads",
    "fine_tuning_jobs",
    "fine_tuned_models",
)
PROJECT_SCOPES = "chat embeddings files fine_tuning knowledge read"
ADMIN_SCOPES = "admin chat embeddings files fine_tuning knowledge read"
# The statements below are built from the constants above only (no outside input).
# 'key_' + hex becomes 'proj_' + the same hex: SQLite and PostgreSQL both count from 1.
PROJECT_OF = "'proj_' || substr({column}, 5)"


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("project_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("scopes", sa.String(256), nullable=True))
        batch.add_column(sa.Column("models_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("previous_key_hash", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "INSERT INTO projects (id, name, created_at, archived_at) "
        f"SELECT {PROJECT_OF.format(column='id')}, name, created_at, NULL FROM api_keys"
    )
    op.execute(
        f"UPDATE api_keys SET project_id = {PROJECT_OF.format(column='id')}, "
        f"scopes = '{PROJECT_SCOPES}'"
    )
    op.execute(
        f"UPDATE api_keys SET scopes = '{ADMIN_SCOPES}' WHERE id IN "
        "(SELECT value FROM markers WHERE name = 'bootstrap_api_key')"
    )
    for table in OWNED:
        op.execute(
            f"UPDATE {table} SET owner = {PROJECT_OF.format(column='owner')} "
            "WHERE owner LIKE 'key\\_%' ESCAPE '\\'"
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("project_id", existing_type=sa.String(40), nullable=False)
        batch.alter_column("scopes", existing_type=sa.String(256), nullable=False)
        batch.create_foreign_key(
            "fk_api_keys_project_id_projects", "projects", ["project_id"], ["id"]
        )
        batch.create_index("ix_api_keys_project_id", ["project_id"])
        batch.create_unique_constraint("uq_api_keys_previous_key_hash", ["previous_key_hash"])


def downgrade() -> None:
    for table in OWNED:
        op.execute(
            f"UPDATE {table} SET owner = 'key_' || substr(owner, 6) "
            "WHERE owner LIKE 'proj\\_%' ESCAPE '\\'"
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("uq_api_keys_previous_key_hash", type_="unique")
        batch.drop_index("ix_api_keys_project_id")
        batch.drop_constraint("fk_api_keys_project_id_projects", type_="foreignkey")
        for column in (
            "rotated_at",
            "previous_valid_until",
            "previous_key_hash",
            "expires_at",
            "models_json",
            "scopes",
            "project_id",
        ):
            batch.drop_column(column)
    op.drop_table("projects")
