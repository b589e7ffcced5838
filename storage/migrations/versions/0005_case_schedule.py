"""case schedule: due reminders, escalations, final warnings and deadlines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models  # custom column types may be referenced

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("due_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lease_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_schedule_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_schedule")),
        # Also serves lookups of one case's rows (case_id is its first column).
        sa.UniqueConstraint("case_id", "key", name=op.f("uq_case_schedule_case_id")),
    )
    # The sweep reads pending rows by due time: its cost follows the due rows, not all cases.
    with op.batch_alter_table("case_schedule", schema=None) as batch_op:
        batch_op.create_index("ix_case_schedule_status_due_at", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_case_schedule_status_due_at")
    op.drop_table("case_schedule")
