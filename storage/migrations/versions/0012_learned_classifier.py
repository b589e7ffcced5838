"""learned classifier: the team's labelled examples and the trained model versions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models  # custom column types may be referenced

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("taxonomy_version", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("verdict_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_examples")),
        sa.UniqueConstraint("text_hash", name=op.f("uq_training_examples_text_hash")),
    )
    op.create_index(
        op.f("ix_training_examples_taxonomy_version"),
        "training_examples",
        ["taxonomy_version"],
    )
    op.create_table(
        "learned_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taxonomy_version", sa.String(length=32), nullable=False),
        sa.Column("trained_from", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trained_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("example_count", sa.Integer(), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learned_models")),
        sa.UniqueConstraint("trained_from", name=op.f("uq_learned_models_trained_from")),
    )
    op.create_index(
        op.f("ix_learned_models_taxonomy_version"), "learned_models", ["taxonomy_version"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_learned_models_taxonomy_version"), table_name="learned_models")
    op.drop_table("learned_models")
    op.drop_index(op.f("ix_training_examples_taxonomy_version"), table_name="training_examples")
    op.drop_table("training_examples")
