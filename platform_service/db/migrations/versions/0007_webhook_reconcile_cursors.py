"""webhook reconcile cursors

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 15:29:55.289674
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_reconcile_cursors",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("listed_until", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_webhook_reconcile_cursors")),
    )


def downgrade() -> None:
    op.drop_table("webhook_reconcile_cursors")
