"""accounts: an index on lower(email), for `q=` an email

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An expression index: both SQLite and PostgreSQL use it for `lower(email) = ?`.
    op.create_index("ix_accounts_email_lower", "accounts", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_accounts_email_lower", table_name="accounts")
