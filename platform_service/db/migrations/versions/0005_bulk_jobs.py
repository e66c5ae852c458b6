"""bulk jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:14:07.740334
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_job_items",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("canary", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("error_code", sa.String(length=80), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_param", sa.String(length=200), nullable=True),
        sa.Column("diff", JsonB, nullable=True),
        sa.Column("finished_at", DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bulk_job_items")),
    )
    with op.batch_alter_table("bulk_job_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bulk_job_items_job_account", ["job_id", "account_id"], unique=True
        )
        batch_op.create_index(
            "ix_bulk_job_items_job_finished", ["job_id", "finished_at"], unique=False
        )
        batch_op.create_index(
            "ix_bulk_job_items_job_status_seq", ["job_id", "status", "seq"], unique=False
        )

    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("target", JsonB, nullable=False),
        sa.Column("patch", JsonB, nullable=False),
        sa.Column("patch_version", sa.String(length=32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("canary_size", sa.Integer(), nullable=False),
        sa.Column("canary_approved", sa.Boolean(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("started_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("finished_at", DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_jobs")),
    )


def downgrade() -> None:
    op.drop_table("bulk_jobs")
    with op.batch_alter_table("bulk_job_items", schema=None) as batch_op:
        batch_op.drop_index("ix_bulk_job_items_job_status_seq")
        batch_op.drop_index("ix_bulk_job_items_job_finished")
        batch_op.drop_index("ix_bulk_job_items_job_account")

    op.drop_table("bulk_job_items")
