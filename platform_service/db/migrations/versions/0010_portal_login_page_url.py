"""portal settings: the configuration's shareable login link, per account

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("account_portal_settings", sa.Column("login_page_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_portal_settings") as batch:
        batch.drop_column("login_page_url")
