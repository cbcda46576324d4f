"""SMPP: the SMSC's message ids of each submitted segment

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smpp_submits",
        sa.Column("connection", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=65), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "message_id", name=op.f("pk_smpp_submits")),
    )
    op.create_index("ix_smpp_submits_message_sid", "smpp_submits", ["message_sid"])
    op.create_index("ix_smpp_submits_submitted_at", "smpp_submits", ["submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_smpp_submits_submitted_at", table_name="smpp_submits")
    op.drop_index("ix_smpp_submits_message_sid", table_name="smpp_submits")
    op.drop_table("smpp_submits")
