"""consent stated

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Whether the customer's consent was stated (yes or no) or the team's policy filled it in:
    # a case opened on unstated consent shows "Consent not stated" and asks before a call.
    with op.batch_alter_table("verdicts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_stated", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("verdicts", schema=None) as batch_op:
        batch_op.drop_column("consent_stated")
