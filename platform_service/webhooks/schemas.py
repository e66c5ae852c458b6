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
    status: Annotated[
        str,
        msgspec.Meta(
            description="The stored event's status: `pending` (queued for its handler), "
            "`ignored` or `unhandled` (no handler for its type).",
            examples=["pending"],
        ),
    ]
    duplicate: Annotated[
        bool, msgspec.Meta(description="The event was already stored; nothing new was queued.")
    ] = False


class WebhookEventOut(Output, kw_only=True):
    """A Stripe event as received and stored, and how its handling went."""

    id: Annotated[
        str, msgspec.Meta(description="Stripe's event id.", examples=["evt_1Nv0FGQ9RKHgCVdK"])
    ]
    type: Annotated[
        str,
        msgspec.Meta(
            description="Stripe's event type.",
            examples=["account.updated", "v2.core.account[requirements].updated"],
        ),
    ]
    account_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The connected account: a Connect event's `account`; for a thin event, "
            "its related Accounts v2 account, else its `context`."
        ),
    ] = None
    livemode: bool
    source: Annotated[
        str,
        msgspec.Meta(
            description="How it arrived: the `platform` or `connect` endpoint, the `thin` "
            "endpoint (an event destination's thin v2 notifications), or `reconcile` (fetched "
            "from Stripe's event list after a missed delivery)."
        ),
    ]
    created: Annotated[datetime, msgspec.Meta(description="When Stripe created the event.")]
    object_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The id of the object the event is about (a thin event's "
            "`related_object.id`)."
        ),
    ] = None
    object_type: Annotated[
        str | None,
        msgspec.Meta(description="Its type.", examples=["account", "v2.core.account"]),
    ] = None
    status: Annotated[EventStatusName, msgspec.Meta(description="Where its handling stands.")]
    stale: Annotated[
        bool,
        msgspec.Meta(
            description="A newer event about the same object was processed first, so this "
            "one changed nothing."
        ),
    ] = False
    attempts: Annotated[int, msgspec.Meta(description="Handler runs so far.")] = 0
    last_error: Annotated[str | None, msgspec.Meta(description="The last handler failure.")] = None
    received_at: datetime
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    processed_at: datetime | None = None
    payload: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description="The event as Stripe sent it (portal URLs scrubbed); for a thin event, "
            "the notification, which names the event and its object without their data."
        ),
    ] = None


class WebhookEventList(Output, kw_only=True):
    """One page of stored events, newest first."""

    data: list[WebhookEventOut]
    has_more: Annotated[
        bool, msgspec.Meta(description="More pages follow: pass the last `id` as `starting_after`.")
    ]


class WebhookReplayFilter(Input, kw_only=True):
    """Which events to replay; at least one filter is required."""

    type: Annotated[
        str | None, msgspec.Meta(description="Events of this type.", examples=["account.updated"])
    ] = None
    status: Annotated[
        EventStatusName | None, msgspec.Meta(description="Events in this status.")
    ] = None
    account_id: Annotated[
        str | None, msgspec.Meta(description="Events of this connected account.")
    ] = None
    since: Annotated[
        datetime | None, msgspec.Meta(description="Events Stripe created at or after this time.")
    ] = None
    limit: Annotated[
        int, msgspec.Meta(ge=1, le=10_000, description="At most this many events.")
    ] = 1000


class WebhookReplayResult(Output, kw_only=True):
    """How many events were queued again."""

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
