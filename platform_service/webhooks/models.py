"""Tables of the webhook inbox: every verified Stripe event once, per-object freshness,
and the reconciliation runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base, BigIntPK, utcnow


class EventStatus(StrEnum):
    PENDING = "pending"  # stored, waiting for (or between tries of) its job
    PROCESSING = "processing"  # a job has claimed it
    PROCESSED = "processed"  # handlers ran and committed with this stamp
    FAILED = "failed"  # dead letter: the last try failed, `last_error` says why
    IGNORED = "ignored"  # acknowledged on purpose, never processed (test event on live)
    UNHANDLED = "unhandled"  # no domain handles this type


class EventSource(StrEnum):
    PLATFORM = "platform"  # POST /v1/webhooks/stripe
    CONNECT = "connect"  # POST /v1/webhooks/stripe/connect
    THIN = "thin"  # POST /v1/webhooks/stripe/thin (an event destination's thin notifications)
    RECONCILE = "reconcile"  # pulled from GET /v1/events or GET /v2/core/events by reconciliation


class WebhookEvent(Base):
    """One Stripe event; the unique `stripe_event_id` is the dedupe.

    A snapshot (v1) event is stored whole; a thin (v2) one as its notification
    (`object` "v2.core.event": the event's id, type and related object, no data),
    which its handlers complete by fetching the event and the object.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        # The sweep's query: pending or stuck events, oldest enqueue first.
        Index("ix_webhook_events_status_enqueued", "status", "enqueued_at"),
        Index("ix_webhook_events_account_id_id", "account_id", "id"),
        Index("ix_webhook_events_type_id", "type", "id"),
        Index("ix_webhook_events_created", "created"),
    )

    # The job takes this id; the API shows `stripe_event_id`.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(120))
    account_id: Mapped[str | None] = mapped_column(String(64))
    livemode: Mapped[bool]
    source: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime]
    object_id: Mapped[str | None] = mapped_column(String(255))
    object_type: Mapped[str | None] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    # True when an event for the same object with a later `created` had already been
    # processed: handlers still ran (they refetch), the flag is for tooling.
    stale: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]


class WebhookObjectVersion(Base):
    """Per Stripe object, the newest event `created` processed so far (staleness check)."""

    __tablename__ = "webhook_object_versions"

    # "<account or platform>/<object type>/<object id>": capability ids ("card_payments")
    # and the application of a deauthorization repeat across accounts.
    object_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    last_created: Mapped[datetime]
    last_event_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReconcileRun(Base):
    """One reconciliation pass: what it looked at and what it repaired."""

    __tablename__ = "webhook_reconcile_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    since: Mapped[datetime | None]
    accounts_scanned: Mapped[int] = mapped_column(default=0)
    events_seen: Mapped[int] = mapped_column(default=0)
    events_inserted: Mapped[int] = mapped_column(default=0)
    accounts_synced: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)


class ReconcileCursor(Base):
    """Per Stripe account listed by reconciliation, up to when its events were read.

    Kept per scope because a run reads only some connected accounts (rotation): a
    single global watermark would skip the windows of the accounts it left out.
    """

    __tablename__ = "webhook_reconcile_cursors"

    # The connected account id, "platform" (GET /v1/events) or "v2" (GET /v2/core/events).
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    listed_until: Mapped[datetime]
