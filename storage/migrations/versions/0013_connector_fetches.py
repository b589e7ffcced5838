"""survey-tool connectors: callbacks whose response the background pass fetches (SurveyMonkey)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models  # custom column types may be referenced

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_fetches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("connector", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_fetches")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_connector_fetches_dedupe_key")),
    )
    op.create_index(op.f("ix_connector_fetches_status"), "connector_fetches", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_connector_fetches_status"), table_name="connector_fetches")
    op.drop_table("connector_fetches")
