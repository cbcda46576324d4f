"""sender health: per-sender delivery outcomes and routing state

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_states",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("resource_sid", sa.String(length=34), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column("date_created", sa.BigInteger(), nullable=False),
        sa.Column("date_updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_health_states")),
        sa.UniqueConstraint("sid", name=op.f("uq_health_states_sid")),
    )
    op.create_index(
        op.f("ix_health_states_account_sid_address"), "health_states", ["account_sid", "address"]
    )
    op.create_table(
        "health_tallies",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("slice_start", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("not_judged", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("latency", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slice_start", "node", name=op.f("pk_health_tallies")),
    )
    op.create_index(op.f("ix_health_tallies_slice_start"), "health_tallies", ["slice_start"])


def downgrade() -> None:
    op.drop_index(op.f("ix_health_tallies_slice_start"), table_name="health_tallies")
    op.drop_table("health_tallies")
    op.drop_index(op.f("ix_health_states_account_sid_address"), table_name="health_states")
    op.drop_table("health_states")
