"""API shapes of the webhook inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from platform_service.schemas import Input, Output
from platform_service.webhooks.models import WebhookEvent

EventStatusName = Literal["pending", "processing", "processed", "failed", "ignored", "unhandled"]


class WebhookAck(Output, kw_only=True):
    """What Stripe gets back: a 2xx is all it reads."""

    received: bool
    status: str
    duplicate: bool = False


class WebhookEventOut(Output, kw_only=True):
    id: str
    type: str
    account_id: str | None = None
    livemode: bool
    source: str
    created: datetime
    object_id: str | None = None
    object_type: str | None = None
    status: EventStatusName
    stale: bool = False
    attempts: int = 0
    last_error: str | None = None
    received_at: datetime
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    processed_at: datetime | None = None
    payload: dict[str, Any] | None = None


class WebhookEventList(Output, kw_only=True):
    data: list[WebhookEventOut]
    has_more: bool


class WebhookReplayFilter(Input, kw_only=True):
    """Which events to replay; at least one filter is required."""

    type: str | None = None
    status: EventStatusName | None = None
    account_id: str | None = None
    since: datetime | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000


class WebhookReplayResult(Output, kw_only=True):
    count: int


def event_out(row: WebhookEvent, *, with_payload: bool) -> WebhookEventOut:
    return WebhookEventOut(
        id=row.stripe_event_id,
        type=row.type,
        account_id=row.account_id,
        livemode=row.livemode,
        source=row.source,
        created=row.created,
        object_id=row.object_id,
        object_type=row.object_type,
        status=row.status,  # type: ignore[arg-type]  # the column only ever holds EventStatus values
        stale=row.stale,
        attempts=row.attempts,
        last_error=row.last_error,
        received_at=row.received_at,
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        processed_at=row.processed_at,
        payload=row.payload if with_payload else None,
    )
