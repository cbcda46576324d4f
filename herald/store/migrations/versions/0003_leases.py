"""leases: sender queue leases between nodes, live nodes, callback lease owners

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sender_leases",
        sa.Column("sender_key", sa.String(length=80), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sender_key", name=op.f("pk_sender_leases")),
    )
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_nodes")),
    )
    op.add_column("callbacks", sa.Column("leased_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("callbacks", "leased_by")
    op.drop_table("nodes")
    op.drop_table("sender_leases")
