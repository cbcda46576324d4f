"""services: Messaging Services, their sender pools, sticky mappings, alerts, routing

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _dates() -> list[sa.Column[int]]:
    return [
        sa.Column("date_created", sa.BigInteger(), nullable=False),
        sa.Column("date_updated", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=False),
        sa.Column("inbound_request_url", sa.String(length=1024), nullable=True),
        sa.Column("inbound_method", sa.String(length=8), nullable=False),
        sa.Column("fallback_url", sa.String(length=1024), nullable=True),
        sa.Column("fallback_method", sa.String(length=8), nullable=False),
        sa.Column("status_callback", sa.String(length=1024), nullable=True),
        sa.Column("sticky_sender", sa.Boolean(), nullable=False),
        sa.Column("mms_converter", sa.Boolean(), nullable=False),
        sa.Column("smart_encoding", sa.Boolean(), nullable=False),
        sa.Column("scan_message_content", sa.String(length=16), nullable=False),
        sa.Column("fallback_to_long_code", sa.Boolean(), nullable=False),
        sa.Column("area_code_geomatch", sa.Boolean(), nullable=False),
        sa.Column("validity_period", sa.Integer(), nullable=False),
        sa.Column("synchronous_validation", sa.Boolean(), nullable=False),
        sa.Column("usecase", sa.String(length=32), nullable=False),
        sa.Column("use_inbound_webhook_on_number", sa.Boolean(), nullable=False),
        sa.Column("skip_unregistered_alpha", sa.Boolean(), nullable=False),
        *_dates(),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_services")),
    )
    op.create_index(op.f("ix_services_account_sid"), "services", ["account_sid"])
    op.create_table(
        "service_senders",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("service_sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("alpha_sender", sa.String(length=11), nullable=True),
        sa.Column("registered_in", sa.String(length=1024), server_default="", nullable=False),
        *_dates(),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_service_senders")),
        sa.UniqueConstraint(
            "service_sid", "alpha_sender", name=op.f("uq_service_senders_service_sid_alpha_sender")
        ),
    )
    op.create_index(
        op.f("ix_service_senders_service_sid_kind"), "service_senders", ["service_sid", "kind"]
    )
    op.create_table(
        "sticky_mappings",
        sa.Column("service_sid", sa.String(length=34), nullable=False),
        sa.Column("to_number", sa.String(length=64), nullable=False),
        sa.Column("sender_sid", sa.String(length=34), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default="0", nullable=False),
        *_dates(),
        sa.PrimaryKeyConstraint("service_sid", "to_number", name=op.f("pk_sticky_mappings")),
    )
    op.create_index(
        op.f("ix_sticky_mappings_service_sid_sender_sid"),
        "sticky_mappings",
        ["service_sid", "sender_sid"],
    )
    op.create_table(
        "alerts",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("log_level", sa.String(length=8), nullable=False),
        sa.Column("alert_text", sa.Text(), nullable=False),
        sa.Column("resource_sid", sa.String(length=34), nullable=True),
        sa.Column("service_sid", sa.String(length=34), nullable=True),
        *_dates(),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_alerts")),
    )
    op.create_index(
        op.f("ix_alerts_account_sid_date_created"), "alerts", ["account_sid", "date_created"]
    )
    op.add_column("messages", sa.Column("routing", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("mms_link", sa.String(length=256), nullable=True))
    converted = sa.text("mms_link IS NOT NULL")
    op.create_index(
        "ix_messages_mms_link", "messages", ["mms_link"],
        sqlite_where=converted, postgresql_where=converted,
    )  # fmt: skip
    scheduled = sa.text("status = 'scheduled'")
    op.create_index(
        "ix_messages_scheduled_send_at", "messages", ["status", "send_at"],
        sqlite_where=scheduled, postgresql_where=scheduled,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_messages_scheduled_send_at", table_name="messages")
    op.drop_index("ix_messages_mms_link", table_name="messages")
    op.drop_column("messages", "mms_link")
    op.drop_column("messages", "routing")
    op.drop_table("alerts")
    op.drop_table("sticky_mappings")
    op.drop_table("service_senders")
    op.drop_table("services")
