"""pending claims

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models  # custom column types may be referenced

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Clicks on Claim recorded before the ack and applied by the worker, one per case.
    op.create_table(
        "pending_claims",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("clicked_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_pending_claims_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_pending_claims")),
    )


def downgrade() -> None:
    op.drop_table("pending_claims")
