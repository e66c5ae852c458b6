"""portal settings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:11:41.743211
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_portal_settings",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("overrides", JsonB, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("live_version", sa.Integer(), nullable=True),
        sa.Column("sync_status", sa.String(length=20), nullable=False),
        sa.Column("sync_error", sa.Text(), nullable=True),
        sa.Column("stripe_account", sa.String(length=64), nullable=True),
        sa.Column("configuration_id", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("custom_domain", sa.String(length=253), nullable=True),
        sa.Column("synced_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_portal_settings")),
        sa.UniqueConstraint("custom_domain", name=op.f("uq_account_portal_settings_custom_domain")),
    )
    with op.batch_alter_table("account_portal_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_portal_settings_configuration_id"),
            ["configuration_id"],
            unique=False,
        )

    op.create_table(
        "platform_portal_settings",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("patch", JsonB, nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_portal_settings")),
    )
    op.create_table(
        "portal_configurations",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stripe_account", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=False),
        sa.Column("compiled", JsonB, nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_portal_configurations")),
        sa.UniqueConstraint(
            "stripe_account", "content_hash", name=op.f("uq_portal_configurations_stripe_account")
        ),
    )
    with op.batch_alter_table("portal_configurations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_configurations_configuration_id", ["configuration_id"], unique=False
        )

    op.create_table(
        "portal_settings_versions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("overrides", JsonB, nullable=False),
        sa.Column("document", JsonB, nullable=False),
        sa.Column("compiled", JsonB, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("stripe_account", sa.String(length=64), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_portal_settings_versions")),
        sa.UniqueConstraint(
            "account_id", "version", name=op.f("uq_portal_settings_versions_account_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("portal_settings_versions")
    with op.batch_alter_table("portal_configurations", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_configurations_configuration_id")

    op.drop_table("portal_configurations")
    op.drop_table("platform_portal_settings")
    with op.batch_alter_table("account_portal_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_portal_settings_configuration_id"))

    op.drop_table("account_portal_settings")
