"""A bulk job and its items: persisted before any Stripe call, one item per account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.types import JsonB
from sqlalchemy import Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base, BigIntPK, new_id, utcnow

JOB_STATUSES = (
    "queued",
    "running",
    "paused",
    "succeeded",
    "partially_failed",
    "failed",
    "cancelled",
)
ITEM_STATUSES = ("pending", "running", "succeeded", "failed", "skipped")
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "partially_failed", "failed", "cancelled"})


class BulkJob(Base):
    __tablename__ = "bulk_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("bulk"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    target: Mapped[dict[str, Any]] = mapped_column(JsonB)
    patch: Mapped[dict[str, Any]] = mapped_column(JsonB)
    # A digest of the patch: part of every item's idempotency key, so a retry or
    # a re-run of this job never applies its change twice.
    patch_version: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    canary_size: Mapped[int] = mapped_column(default=0)
    canary_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(default=0)
    actor: Mapped[str] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BulkJobItem(Base):
    __tablename__ = "bulk_job_items"
    __table_args__ = (
        Index("ix_bulk_job_items_job_status_seq", "job_id", "status", "seq"),
        Index("ix_bulk_job_items_job_account", "job_id", "account_id", unique=True),
        Index("ix_bulk_job_items_job_finished", "job_id", "finished_at"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(64))
    canary: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # A running item's lease: past it, the item is reclaimed (its worker died).
    lease_until: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(120))
    error_code: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_param: Mapped[str | None] = mapped_column(String(200))
    diff: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    finished_at: Mapped[datetime | None]
