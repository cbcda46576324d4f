"""Each status callback's and inbound webhook's attempts, kept on its row

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("callbacks", "inbound_webhooks"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("history", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    for table in ("callbacks", "inbound_webhooks"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("history")
