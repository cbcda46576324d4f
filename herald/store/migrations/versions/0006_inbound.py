"""inbound: carrier ids of inbound messages, inbound webhooks owed, the opt-out ledger and
Advanced Opt-Out settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _dates() -> list[sa.Column[int]]:
    return [
        sa.Column("date_created", sa.BigInteger(), nullable=False),
        sa.Column("date_updated", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "carrier_inbound",
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("carrier_id", sa.String(length=200), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("date_created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("carrier", "carrier_id", name=op.f("pk_carrier_inbound")),
    )
    op.create_table(
        "inbound_webhooks",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("fallback_url", sa.String(length=1024), nullable=False),
        sa.Column("fallback_method", sa.String(length=8), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("answered_by", sa.String(length=1024), nullable=True),
        sa.Column("twiml", sa.Text(), nullable=True),
        *_dates(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_webhooks")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_webhooks_message_sid")),
    )
    op.create_index(
        op.f("ix_inbound_webhooks_state_next_attempt_at"),
        "inbound_webhooks",
        ["state", "next_attempt_at"],
    )
    op.create_table(
        "opt_outs",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("scope_kind", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("keyword", sa.String(length=32), nullable=True),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("messaging_service_sid", sa.String(length=34), nullable=True),
        sa.Column("message_sid", sa.String(length=34), nullable=True),
        sa.Column("confirmation_sid", sa.String(length=34), nullable=True),
        *_dates(),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_opt_outs")),
        sa.UniqueConstraint(
            "account_sid",
            "recipient",
            "scope_kind",
            "scope",
            name=op.f("uq_opt_outs_account_sid_recipient_scope_kind_scope"),
        ),
    )
    op.create_index(
        op.f("ix_opt_outs_account_sid_date_created"), "opt_outs", ["account_sid", "date_created"]
    )
    op.create_table(
        "opt_out_settings",
        sa.Column("service_sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        *_dates(),
        sa.PrimaryKeyConstraint("service_sid", name=op.f("pk_opt_out_settings")),
    )


def downgrade() -> None:
    op.drop_table("opt_out_settings")
    op.drop_index(op.f("ix_opt_outs_account_sid_date_created"), table_name="opt_outs")
    op.drop_table("opt_outs")
    op.drop_index(op.f("ix_inbound_webhooks_state_next_attempt_at"), table_name="inbound_webhooks")
    op.drop_table("inbound_webhooks")
    op.drop_table("carrier_inbound")
