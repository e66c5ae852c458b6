"""accounts: which Stripe Accounts API (v1 or v2) each account, and each import, uses

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every account that exists was created (or imported) through /v1/accounts.
    op.add_column(
        "accounts",
        sa.Column("accounts_api", sa.String(2), nullable=False, server_default="v1"),
    )
    op.add_column(
        "account_imports",
        sa.Column("accounts_api", sa.String(2), nullable=False, server_default="v1"),
    )


def downgrade() -> None:
    with op.batch_alter_table("account_imports") as batch:
        batch.drop_column("accounts_api")
    # SQLite's batch mode copies the table and cannot carry the expression index
    # over: it goes first and comes back after.
    op.drop_index("ix_accounts_email_lower", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("accounts_api")
    op.create_index("ix_accounts_email_lower", "accounts", [sa.text("lower(email)")])
