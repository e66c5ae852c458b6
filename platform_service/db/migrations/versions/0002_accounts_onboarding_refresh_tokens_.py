"""accounts, onboarding refresh tokens, account imports, job outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:05:03.227329
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_imports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("charge_model", sa.String(length=40), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("last_account_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("started_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("finished_at", DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_imports")),
    )
    op.create_table(
        "accounts",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("business_name", sa.String(length=200), nullable=True),
        sa.Column("charge_model", sa.String(length=40), nullable=False),
        sa.Column("account_kind", sa.String(length=20), nullable=False),
        sa.Column("metadata", JsonB, nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("next_action", sa.String(length=40), nullable=False),
        sa.Column("due_fields", JsonB, nullable=False),
        sa.Column("due_deadline", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=80), nullable=True),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("details_submitted", sa.Boolean(), nullable=False),
        sa.Column("onboarding_started", sa.Boolean(), nullable=False),
        sa.Column("disconnected_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("stripe_snapshot", JsonB, nullable=False),
        sa.Column("synced_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_accounts")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_accounts_external_ref")),
        sa.UniqueConstraint("id", name=op.f("uq_accounts_id")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_charge_model_seq", ["charge_model", "seq"], unique=False)
        batch_op.create_index("ix_accounts_country_seq", ["country", "seq"], unique=False)
        batch_op.create_index("ix_accounts_status_seq", ["status", "seq"], unique=False)
        batch_op.create_index("ix_accounts_synced_at", ["synced_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # `q` searches with LIKE '%…%': a trigram index keeps it fast at millions of rows.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_accounts_search_trgm ON accounts USING gin (search_text gin_trgm_ops)"
        )

    op.create_table(
        "job_outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("function", sa.String(length=100), nullable=False),
        sa.Column("args", JsonB, nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_job_outbox")),
    )
    op.create_table(
        "onboarding_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("link_type", sa.String(length=40), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_onboarding_refresh_tokens")),
    )
    with op.batch_alter_table("onboarding_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_onboarding_refresh_tokens_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("onboarding_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_onboarding_refresh_tokens_account_id"))

    op.drop_table("onboarding_refresh_tokens")
    op.drop_table("job_outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_accounts_search_trgm")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_synced_at")
        batch_op.drop_index("ix_accounts_status_seq")
        batch_op.drop_index("ix_accounts_country_seq")
        batch_op.drop_index("ix_accounts_charge_model_seq")

    op.drop_table("accounts")
    op.drop_table("account_imports")
