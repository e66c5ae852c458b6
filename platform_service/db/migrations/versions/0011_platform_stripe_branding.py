"""platform_stripe_branding: the platform's own branding as read from Stripe

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_stripe_branding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("business_name", sa.String(length=200), nullable=True),
        sa.Column("icon", sa.String(length=255), nullable=True),
        sa.Column("logo", sa.String(length=255), nullable=True),
        sa.Column("primary_color", sa.String(length=7), nullable=True),
        sa.Column("secondary_color", sa.String(length=7), nullable=True),
        sa.Column("fetched_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_platform_stripe_branding_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_stripe_branding")),
    )


def downgrade() -> None:
    op.drop_table("platform_stripe_branding")
