"""webhook events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:06:21.261082
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stripe_event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=120), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("object_type", sa.String(length=80), nullable=True),
        sa.Column("payload", JsonB, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("enqueued_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("started_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("processed_at", DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_webhook_events_stripe_event_id")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_events_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_webhook_events_created", ["created"], unique=False)
        batch_op.create_index(
            "ix_webhook_events_status_enqueued", ["status", "enqueued_at"], unique=False
        )
        batch_op.create_index("ix_webhook_events_type_id", ["type", "id"], unique=False)

    op.create_table(
        "webhook_object_versions",
        sa.Column("object_key", sa.String(length=400), nullable=False),
        sa.Column("last_created", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("last_event_id", sa.String(length=255), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_key", name=op.f("pk_webhook_object_versions")),
    )
    op.create_table(
        "webhook_reconcile_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("finished_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("since", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("accounts_scanned", sa.Integer(), nullable=False),
        sa.Column("events_seen", sa.Integer(), nullable=False),
        sa.Column("events_inserted", sa.Integer(), nullable=False),
        sa.Column("accounts_synced", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_reconcile_runs")),
    )


def downgrade() -> None:
    op.drop_table("webhook_reconcile_runs")
    op.drop_table("webhook_object_versions")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_type_id")
        batch_op.drop_index("ix_webhook_events_status_enqueued")
        batch_op.drop_index("ix_webhook_events_created")
        batch_op.drop_index("ix_webhook_events_account_id_id")

    op.drop_table("webhook_events")
