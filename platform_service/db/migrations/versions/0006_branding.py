"""branding

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 15:14:22.638181
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "branding_files",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branding_files")),
        sa.UniqueConstraint("sha256", "purpose", name="uq_branding_files_sha256"),
    )
    op.create_table(
        "platform_branding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("logo", sa.String(length=255), nullable=True),
        sa.Column("icon", sa.String(length=255), nullable=True),
        sa.Column("button_color", sa.String(length=7), nullable=True),
        sa.Column("background_color", sa.String(length=7), nullable=True),
        sa.Column("font_family", sa.String(length=100), nullable=True),
        sa.Column("border_style", sa.String(length=20), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_platform_branding_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_branding")),
    )
    op.create_table(
        "account_branding",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=True),
        sa.Column("stripe_written", JsonB, nullable=True),
        sa.Column("stripe_written_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("stripe_written_version", sa.Integer(), nullable=True),
        sa.Column("stripe_idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("drift_fields", JsonB, nullable=False),
        sa.Column("drift_detected_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("drift_checked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("logo", sa.String(length=255), nullable=True),
        sa.Column("icon", sa.String(length=255), nullable=True),
        sa.Column("button_color", sa.String(length=7), nullable=True),
        sa.Column("background_color", sa.String(length=7), nullable=True),
        sa.Column("font_family", sa.String(length=100), nullable=True),
        sa.Column("border_style", sa.String(length=20), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_branding_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_branding")),
    )


def downgrade() -> None:
    op.drop_table("account_branding")
    op.drop_table("platform_branding")
    op.drop_table("branding_files")
