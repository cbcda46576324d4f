"""secondary auth token: a second valid token while an account rotates its credentials

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("secondary_auth_token", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("secondary_date_created", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("secondary_date_created")
        batch.drop_column("secondary_auth_token")
