"""The webhook inbox: verify, record once, process once, replay, sweep.

The shape follows Stripe's advice and STYLE habit 2: a delivery is verified,
recorded under its unique event id, acknowledged, and processed later by a job
that commits the handlers' effects together with the `processed` stamp.
Snapshot (v1) events and thin (v2) event notifications share the table, the
writer, the jobs, replay and the sweep; they differ only in how a delivery is
verified and where its account, object and time are read (`event_values`). Jobs
are enqueued only after the row is committed (`AfterCommit`, `durable=False`:
the pending row with its `enqueued_at` stamp is its own outbox); `sweep`
catches the ones whose enqueue never happened (a crash between commit and
enqueue, Redis down) or whose worker died mid-run.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Select, String, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.db.base import utcnow
from platform_service.db.transaction import SessionMaker
from platform_service.errors import Conflict, NotFound, ServiceError, ValidationFailed
from platform_service.jobs.context import JobContext
from platform_service.jobs.outbox import AfterCommit
from platform_service.pagination import Page, keyset_page
from platform_service.stripe.gateway import StripeGateway, StripeGatewayError
from platform_service.webhooks import ingest
from platform_service.webhooks.dispatch import handlers_for
from platform_service.webhooks.models import (
    EventSource,
    EventStatus,
    WebhookEvent,
    WebhookObjectVersion,
)

if TYPE_CHECKING:
    from platform_service.deps import WebhookIngress

logger = logging.getLogger(__name__)

PROCESS_JOB = "process_webhook_event"
# Placed where a bearer URL was, so a reader sees it was removed on purpose.
SCRUBBED = "[scrubbed]"
# Types whose `data.object.url` opens a customer's portal without a login.
_URL_BEARING_TYPES = frozenset({"billing_portal.session.created"})
# The `object` of a thin event notification (and of the v2 event it points to).
THIN_OBJECT = "v2.core.event"
# A thin event whose related object is an Accounts v2 account is about that account.
V2_ACCOUNT_OBJECT = "v2.core.account"
# An Accounts v2 account is the v1 account seen through another API: its events share
# one per-object version row, so v1 and v2 handlers of one account run one at a time.
_SAME_OBJECT_AS = {V2_ACCOUNT_OBJECT: "account"}

# A handler run longer than this counts as a failure (and is retried) instead of
# holding the event's row lock until arq's own job timeout kills it silently.
HANDLER_TIMEOUT_S = 60.0
# Longer than the longest retry backoff, so a pending event waiting out its
# backoff is never mistaken for a lost one.
REQUEUE_AFTER = timedelta(minutes=10)
# Longer than the job timeout: a `processing` row this old lost its worker.
STUCK_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
_ERROR_MAX = 2000


class WebhookRejected(ServiceError):
    """A delivery the service will not record (bad signature, wrong mode...)."""

    code = "invalid_signature"


class WebhookNotConfigured(ServiceError):
    status_code = 503
    type = "api_error"
    code = "webhook_secret_not_configured"


# -- ingest ---------------------------------------------------------------------


def verify(
    gateway: StripeGateway,
    payload: bytes,
    sig_header: str | None,
    secrets: Sequence[str],
    *,
    thin: bool = False,
) -> dict[str, Any]:
    """The verified event (a thin notification when `thin`), or the service error that
    answers the delivery."""
    parse = gateway.parse_thin_event if thin else gateway.construct_event
    try:
        return parse(payload, sig_header, secrets)
    except StripeGatewayError as exc:
        if exc.code == "no_secret":
            raise WebhookNotConfigured(
                "No signing secret is configured for this webhook endpoint; events are refused."
            ) from exc
        if exc.code == "missing_signature":
            raise WebhookRejected(
                "Missing Stripe-Signature header.", code="missing_signature"
            ) from exc
        if exc.code == "invalid_payload":
            expected = "thin event notification (v2.core.event)" if thin else "snapshot event"
            raise WebhookRejected(
                f"The payload is not a Stripe {expected}.", code="invalid_payload"
            ) from exc
        raise WebhookRejected(
            "The Stripe-Signature header does not match any configured secret."
        ) from exc


def scrub(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of the event fit to store: bearer URLs replaced."""
    if event.get("type") not in _URL_BEARING_TYPES:
        return event
    clean = copy.deepcopy(event)
    data = clean.get("data") or {}
    for part in ("object", "previous_attributes"):
        obj = data.get(part)
        if isinstance(obj, dict) and obj.get("url"):
            obj["url"] = SCRUBBED
    return clean


@dataclass(frozen=True)
class Recorded:
    stripe_event_id: str
    status: str
    row_id: int | None  # None: a duplicate, already stored

    @property
    def duplicate(self) -> bool:
        return self.row_id is None

    @property
    def needs_job(self) -> bool:
        return self.row_id is not None and self.status == EventStatus.PENDING


def initial_status(event: dict[str, Any], *, live_mode: bool) -> EventStatus:
    """Where a new event starts; raises for an event the service must never act on."""
    livemode = bool(event.get("livemode"))
    if livemode != live_mode:
        if live_mode:
            # A live Connect endpoint also receives test-mode events of accounts
            # connected in both modes: acknowledged, kept for the record, not acted on.
            return EventStatus.IGNORED
        # A live event signed for a test deployment is a misconfiguration; answering
        # 400 keeps it failing (and visible) in Stripe's dashboard, where it stays
        # retrievable, instead of quietly dropping it.
        raise WebhookRejected(
            "A live-mode event reached a service running with a test-mode key.",
            code="livemode_mismatch",
        )
    if not handlers_for(str(event.get("type"))):
        return EventStatus.UNHANDLED
    return EventStatus.PENDING


def _insert(session: AsyncSession) -> Any:
    # Both dialects spell "insert unless the unique key exists" the same way.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


@dataclass(frozen=True)
class _Subject:
    """What an event is about, as the inbox's columns hold it."""

    account_id: str | None
    created: datetime
    object_id: str | None
    object_type: str | None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _subject(event: dict[str, Any]) -> _Subject:
    if event.get("object") != THIN_OBJECT:
        obj = (event.get("data") or {}).get("object") or {}
        return _Subject(
            account_id=event.get("account"),
            created=datetime.fromtimestamp(int(event.get("created") or 0), UTC),
            object_id=_text(obj.get("id")),
            object_type=_text(obj.get("object")),
        )
    # A thin notification names its object instead of carrying it; its `context` is the
    # connected account it happened on (none for the platform's own objects, which v2
    # accounts are: the account is then the related object itself).
    related = event.get("related_object") or {}
    object_id, object_type = _text(related.get("id")), _text(related.get("type"))
    try:
        created = datetime.fromisoformat(str(event.get("created")))
    except ValueError as exc:
        raise WebhookRejected(
            "The event's created is not an ISO 8601 time.", code="invalid_payload"
        ) from exc
    return _Subject(
        account_id=object_id if object_type == V2_ACCOUNT_OBJECT else _text(event.get("context")),
        created=(created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC),
        object_id=object_id,
        object_type=object_type,
    )


def event_values(event: dict[str, Any], *, source: EventSource, live_mode: bool) -> dict[str, Any]:
    """The row a delivery stores (`ingest.COLUMNS`), from a snapshot event or a thin
    notification; WebhookRejected for a wrong mode or a value no column holds."""
    status = initial_status(event, live_mode=live_mode)
    subject = _subject(event)
    now = utcnow()
    values = {
        "stripe_event_id": str(event["id"]),
        "type": str(event.get("type")),
        "account_id": subject.account_id,
        "livemode": bool(event.get("livemode")),
        "source": source.value,
        "created": subject.created,
        "object_id": subject.object_id,
        "object_type": subject.object_type,
        "payload": scrub(event),
        "status": status.value,
        "stale": False,
        "attempts": 0,
        "received_at": now,
        # Stamped before commit: the enqueue follows the commit, and if it never
        # happens the sweep finds this row pending with an old stamp.
        "enqueued_at": now if status == EventStatus.PENDING else None,
    }
    for name, limit in _TEXT_LIMITS.items():
        value = values[name]
        if isinstance(value, str) and len(value) > limit:
            # Signed, so Stripe's own: but a value no column holds would fail its whole
            # batch; refused alone, and with a 400 rather than a 500 retried for days.
            raise WebhookRejected(
                f"The event's {name} is longer than {limit} characters; no Stripe event's is.",
                code="invalid_payload",
            )
    return values


# The length limit of each text column a delivery fills.
_TEXT_LIMITS: Final[dict[str, int]] = {
    column.name: column.type.length
    for column in WebhookEvent.__table__.columns
    if isinstance(column.type, String) and column.type.length is not None
}


async def record(
    session: AsyncSession, event: dict[str, Any], *, source: EventSource, live_mode: bool
) -> Recorded:
    """Insert the event unless its id is already stored (in the caller's transaction)."""
    values = event_values(event, source=source, live_mode=live_mode)
    result = await session.execute(ingest.insert_rows(1), ingest.row_params([values]))
    row_id = next((int(row_id) for row_id, _ in result), None)
    return Recorded(values["stripe_event_id"], values["status"], row_id)


async def receive(
    ingress: WebhookIngress, payload: bytes, sig_header: str | None, source: EventSource
) -> Recorded:
    """Verify one delivery to the endpoint of `source` against that endpoint's secrets (a
    thin notification for `EventSource.THIN`) and store it, committed (with concurrent
    ones) before it returns; its job is queued by then."""
    secrets = {
        EventSource.PLATFORM: ingress.secrets.platform,
        EventSource.CONNECT: ingress.secrets.connect,
        EventSource.THIN: ingress.secrets.thin,
    }[source]
    thin = source is EventSource.THIN
    event = verify(ingress.gateway, payload, sig_header, secrets, thin=thin)
    values = event_values(event, source=source, live_mode=ingress.live_mode)
    writer = ingest.writer_for(ingress.session_maker, ingress.after_commit, PROCESS_JOB)
    row_id = await writer.store(values)
    return Recorded(values["stripe_event_id"], values["status"], row_id)


async def enqueue_committed(after_commit: AfterCommit, row_ids: Sequence[int]) -> int:
    """Queue the jobs of events already committed pending (sweep, reconcile); returns how many.

    A failed enqueue is logged, not raised: the row stays pending and the sweep retries it.
    """
    return await after_commit.dispatch([(None, PROCESS_JOB, [row_id]) for row_id in row_ids])


# -- processing -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str
    retry: bool = False


def _object_key(row: WebhookEvent) -> str | None:
    if row.object_id is None:
        return None
    kind = row.object_type or "?"
    return f"{row.account_id or 'platform'}/{_SAME_OBJECT_AS.get(kind, kind)}/{row.object_id}"


async def _note_object_version(session: AsyncSession, row: WebhookEvent) -> bool:
    """Record the event's time for its object; True when a newer one was already processed.

    The lock on the version row also serialises handlers of one object, so the
    handler that commits last is the one that fetched last.
    """
    key = _object_key(row)
    if key is None:
        return False
    await session.execute(
        _insert(session)(WebhookObjectVersion)
        .values(
            object_key=key,
            last_created=row.created,
            last_event_id=row.stripe_event_id,
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["object_key"])
    )
    version = await session.scalar(
        select(WebhookObjectVersion).where(WebhookObjectVersion.object_key == key).with_for_update()
    )
    assert version is not None
    if version.last_created > row.created:
        return True
    if version.last_created < row.created:
        version.last_created = row.created
        version.last_event_id = row.stripe_event_id
    return False


async def _claim(session_maker: SessionMaker, event_id: int) -> WebhookEvent | None:
    async with session_maker() as session, session.begin():
        row = await session.get(WebhookEvent, event_id, with_for_update=True)
        if row is None or row.status not in (EventStatus.PENDING, EventStatus.PROCESSING):
            return row
        # Committed on its own, so the count and the state survive a handler's rollback.
        row.status = EventStatus.PROCESSING
        row.attempts += 1
        row.started_at = utcnow()
        return row


async def process_event(ctx: JobContext, event_id: int, *, final_try: bool) -> Outcome:
    """Run the handlers of one stored event once; the job turns `retry` into arq's Retry."""
    session_maker = ctx["session_maker"]
    claimed = await _claim(session_maker, event_id)
    if claimed is None:
        return Outcome("missing")
    if claimed.status != EventStatus.PROCESSING:
        return Outcome(claimed.status)
    handlers = handlers_for(claimed.type)
    try:
        async with session_maker() as session, session.begin():
            row = await session.get(
                WebhookEvent, event_id, with_for_update=True, populate_existing=True
            )
            # Another job finished it while this one waited for the lock.
            if row is None or row.status != EventStatus.PROCESSING:
                return Outcome(row.status if row is not None else "missing")
            if not handlers:
                row.status = EventStatus.UNHANDLED
                return Outcome(row.status)
            row.stale = await _note_object_version(session, row)
            async with asyncio.timeout(HANDLER_TIMEOUT_S):
                for handler in handlers:
                    await handler(session, ctx, row.payload)
            row.status = EventStatus.PROCESSED
            row.processed_at = utcnow()
            row.last_error = None
            return Outcome(row.status)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        logger.warning(
            "webhook event %s (%s) failed: %s", claimed.stripe_event_id, claimed.type, error
        )
        async with session_maker() as session, session.begin():
            row = await session.get(WebhookEvent, event_id, with_for_update=True)
            assert row is not None
            row.last_error = error
            if final_try:
                row.status = EventStatus.FAILED
                return Outcome(row.status)
            # Back to pending while arq holds the deferred retry; the stamp keeps the
            # sweep from enqueueing a second copy meanwhile.
            row.status = EventStatus.PENDING
            row.enqueued_at = utcnow()
            return Outcome(row.status, retry=True)


# -- reading, replay, sweep ------------------------------------------------------------


async def get_event(session: AsyncSession, stripe_event_id: str) -> WebhookEvent:
    """The stored event with this Stripe id, or 404."""
    row = await session.scalar(
        select(WebhookEvent).where(WebhookEvent.stripe_event_id == stripe_event_id)
    )
    if row is None:
        raise NotFound(f"No such webhook event: '{stripe_event_id}'", param="id")
    return row


async def list_events(
    session: AsyncSession,
    *,
    limit: int,
    starting_after: str | None = None,
    type_: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
) -> Page[WebhookEvent]:
    """Newest received first, keyset-paginated on the row id; the cursor is a Stripe event id."""
    return await keyset_page(
        session,
        _filtered(select(WebhookEvent), type_=type_, account_id=account_id, status=status),
        order=WebhookEvent.id,
        limit=limit,
        starting_after=starting_after,
        cursor_id=WebhookEvent.stripe_event_id,
        what="webhook event",
    )


def _filtered(
    stmt: Select[Any],
    *,
    type_: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> Select[Any]:
    if type_ is not None:
        stmt = stmt.where(WebhookEvent.type == type_)
    if account_id is not None:
        stmt = stmt.where(WebhookEvent.account_id == account_id)
    if status is not None:
        stmt = stmt.where(WebhookEvent.status == status)
    if since is not None:
        stmt = stmt.where(WebhookEvent.created >= since)
    return stmt


def _reset_for_replay(row: WebhookEvent) -> None:
    row.status = EventStatus.PENDING
    row.enqueued_at = utcnow()
    row.processed_at = None


async def replay_event(
    session: AsyncSession, after_commit: AfterCommit, stripe_event_id: str
) -> WebhookEvent:
    """Put one event back to pending; its job is queued once the caller commits."""
    row = await get_event(session, stripe_event_id)
    await session.refresh(row, with_for_update=True)
    if row.status == EventStatus.IGNORED:
        raise Conflict(
            "This event was ignored on purpose (test mode on a live service); it is never processed.",
            code="event_ignored",
        )
    _reset_for_replay(row)
    after_commit.enqueue(session, PROCESS_JOB, row.id, durable=False)
    return row


async def replay_matching(
    session: AsyncSession,
    after_commit: AfterCommit,
    *,
    limit: int,
    type_: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> int:
    """Put every matching event (oldest first, at most `limit`) back to pending; returns how many.

    Their jobs are queued, oldest first, once the caller commits.
    """
    if type_ is None and account_id is None and status is None and since is None:
        raise ValidationFailed("Give at least one of type, status, account_id or since.")
    stmt = _filtered(
        select(WebhookEvent)
        .where(WebhookEvent.status != EventStatus.IGNORED)
        .order_by(WebhookEvent.id)
        .limit(limit)
        .with_for_update(),
        type_=type_,
        account_id=account_id,
        status=status,
        since=since,
    )
    rows = list(await session.scalars(stmt))
    for row in rows:
        _reset_for_replay(row)
        after_commit.enqueue(session, PROCESS_JOB, row.id, durable=False)
    return len(rows)


async def sweep(
    session_maker: SessionMaker,
    after_commit: AfterCommit,
    *,
    requeue_after: timedelta = REQUEUE_AFTER,
    stuck_after: timedelta = STUCK_AFTER,
    batch: int = SWEEP_BATCH,
) -> int:
    """Re-enqueue events committed but never (or long ago) enqueued, and those whose worker died."""
    now = utcnow()
    async with session_maker() as session, session.begin():
        lost = or_(
            (WebhookEvent.status == EventStatus.PENDING)
            & or_(
                WebhookEvent.enqueued_at.is_(None),
                WebhookEvent.enqueued_at < now - requeue_after,
            ),
            (WebhookEvent.status == EventStatus.PROCESSING)
            & (WebhookEvent.started_at < now - stuck_after),
        )
        ids = list(
            await session.scalars(
                update(WebhookEvent)
                .where(
                    WebhookEvent.id.in_(
                        select(WebhookEvent.id)
                        .where(lost)
                        .order_by(WebhookEvent.id)
                        .limit(batch)
                        .scalar_subquery()
                    )
                )
                .values(status=EventStatus.PENDING.value, enqueued_at=now)
                .returning(WebhookEvent.id)
            )
        )
    if ids:
        logger.info("webhook sweep: re-enqueueing %d events", len(ids))
    return await enqueue_committed(after_commit, sorted(ids))
