"""Reconciliation: repair what missed webhooks left wrong.

Two passes, both bounded so a run stays cheap against Stripe's rate limit:
(a) list `GET /v1/events` on the platform and on connected accounts (Stripe
    does not reliably list Connect events on the platform), each from where the
    previous listing of that account stopped (minus a margin), storing the events
    the inbox lacks and enqueueing them like delivered ones; accounts are listed
    a bounded number per run, least recently listed first; when the deployment
    uses Accounts v2, also `GET /v2/core/events` on the platform (where v2
    accounts' events are), stored as the thin notifications that were missed;
(b) ask the accounts domain to refetch accounts whose last sync is older than
    `reconcile_stale_after_s`.

It runs as an arq cron (`reconcile_stripe`, checked every 5 minutes, acting every
`reconcile_interval_s`: the registry fixes cron intervals at import, settings
arrive later) and as `platform-service reconcile`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import exists, func, select

from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import LOST_ACCESS, sync_account, sync_stale_accounts
from platform_service.db.base import utcnow
from platform_service.db.transaction import SessionMaker
from platform_service.jobs.context import JobContext
from platform_service.jobs.outbox import AfterCommit
from platform_service.settings import Settings
from platform_service.stripe.errors import StripeGatewayError
from platform_service.stripe.gateway import StripeGateway
from platform_service.webhooks import service
from platform_service.webhooks.models import EventSource, ReconcileCursor, ReconcileRun

logger = logging.getLogger(__name__)

# Re-list this much before the previous run's start: covers clock skew and events
# created while that run was listing. Duplicates cost one ignored insert each.
MARGIN = timedelta(hours=1)
# With no history, look back as far as Stripe keeps retrying deliveries in live mode.
FIRST_LOOKBACK = timedelta(days=3)
# Stripe keeps events for 30 days; asking for older ones is pointless.
MAX_LOOKBACK = timedelta(days=30)
# Connected accounts listed per run; larger platforms are covered in rotation, and
# each account's cursor makes its next window start where its last one ended.
MAX_ACCOUNTS_PER_RUN = 200
# Events read per account (or the platform) per run, newest first.
MAX_EVENTS_PER_SCOPE = 1000
ACCOUNT_SYNC_LIMIT = 500
CRON_CHECK_S = 300


@dataclass
class ReconcileReport:
    since: datetime
    accounts_scanned: int = 0
    events_seen: int = 0
    events_inserted: int = 0
    events_enqueued: int = 0
    accounts_synced: int | None = None
    truncated: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["since"] = self.since.isoformat()
        return out


PLATFORM_SCOPE = "platform"
# The cursor of the platform's v2 event list (`GET /v2/core/events`).
V2_SCOPE = "v2"
# What a thin notification holds; a listed v2 event also has `changes` and `data`,
# which the notification leaves to the handler's fetch.
_NOTIFICATION_KEYS: Final = (
    "id",
    "object",
    "type",
    "created",
    "context",
    "livemode",
    "reason",
    "related_object",
)


async def _cursors(session_maker: SessionMaker) -> dict[str, datetime]:
    async with session_maker() as session:
        rows = await session.execute(select(ReconcileCursor.scope, ReconcileCursor.listed_until))
        return {scope: until for scope, until in rows}


async def _accounts_to_scan(
    session_maker: SessionMaker, cursors: dict[str, datetime], limit: int
) -> list[str]:
    """Up to `limit` connected accounts, those never (or least recently) listed first."""
    async with session_maker() as session:
        ids = list(
            await session.scalars(
                select(ConnectedAccount.id)
                .where(ConnectedAccount.disconnected_at.is_(None))
                .order_by(ConnectedAccount.seq)
            )
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    # Stable sort: ties (never listed) keep the accounts' creation order.
    ids.sort(key=lambda account_id: cursors.get(account_id, epoch))
    return ids[:limit]


def _since_for(scope: str, cursors: dict[str, datetime], now: datetime) -> datetime:
    listed_until = cursors.get(scope)
    since = listed_until - MARGIN if listed_until is not None else now - FIRST_LOOKBACK
    return max(since, now - MAX_LOOKBACK)


async def _uses_accounts_v2(session_maker: SessionMaker, settings: Settings) -> bool:
    """Whether thin events can matter: v2 is the default, or some account uses it."""
    if settings.stripe_accounts_api == "v2":
        return True
    async with session_maker() as session:
        return bool(
            await session.scalar(select(exists().where(ConnectedAccount.accounts_api == "v2")))
        )


async def _read(
    listed: AsyncIterator[dict[str, Any]],
    scope: str,
    since: datetime,
    report: ReconcileReport,
    *,
    max_events: int,
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for event in listed:
        events.append(event)
        if len(events) >= max_events:
            # Stripe lists newest first: older ones in the window are left to Stripe's
            # own delivery retries. Logged so a too-small bound shows.
            logger.warning(
                "reconcile: %s has over %d events since %s; read the newest only",
                scope,
                max_events,
                since.isoformat(),
            )
            report.truncated += 1
            break
    report.events_seen += len(events)
    return events


async def _pull_events(
    session_maker: SessionMaker,
    gateway: StripeGateway,
    after_commit: AfterCommit,
    report: ReconcileReport,
    stripe_account: str | None,
    since: datetime,
    *,
    max_events: int,
    live_mode: bool,
) -> None:
    events = await _read(
        gateway.iter_events(stripe_account=stripe_account, created_gte=int(since.timestamp())),
        stripe_account or PLATFORM_SCOPE,
        since,
        report,
        max_events=max_events,
    )
    if stripe_account is not None:
        for event in events:
            if not event.get("account"):
                event["account"] = stripe_account
    await _store(session_maker, after_commit, report, events, live_mode=live_mode)


def thin_notification(event: dict[str, Any]) -> dict[str, Any]:
    """A listed v2 event as the thin notification its event destination would have sent."""
    return {key: event.get(key) for key in _NOTIFICATION_KEYS}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _pull_v2_events(
    session_maker: SessionMaker,
    gateway: StripeGateway,
    after_commit: AfterCommit,
    report: ReconcileReport,
    since: datetime,
    *,
    max_events: int,
    live_mode: bool,
) -> None:
    events = await _read(
        gateway.iter_events_v2({"created": {"gt": _rfc3339(since)}}),
        V2_SCOPE,
        since,
        report,
        max_events=max_events,
    )
    notifications = [thin_notification(event) for event in events]
    await _store(session_maker, after_commit, report, notifications, live_mode=live_mode)


async def _store(
    session_maker: SessionMaker,
    after_commit: AfterCommit,
    report: ReconcileReport,
    events: Sequence[dict[str, Any]],
    *,
    live_mode: bool,
) -> None:
    """Insert the events the inbox lacks, then queue their jobs."""
    source = EventSource.RECONCILE
    to_enqueue: list[int] = []
    async with session_maker() as session, session.begin():
        for event in events:
            try:
                recorded = await service.record(session, event, source=source, live_mode=live_mode)
            except service.WebhookRejected:
                continue
            if not recorded.duplicate:
                report.events_inserted += 1
            if recorded.needs_job and recorded.row_id is not None:
                to_enqueue.append(recorded.row_id)
    # Oldest first, so handlers meet the events in the order Stripe created them.
    report.events_enqueued += await service.enqueue_committed(after_commit, sorted(to_enqueue))


async def _refetch_quietly(
    session_maker: SessionMaker, gateway: StripeGateway, account_id: str
) -> None:
    try:
        async with session_maker() as session, session.begin():
            await sync_account(session, gateway, account_id, actor="system:reconcile")
    except Exception as exc:
        logger.warning("reconcile: refetch of %s failed: %s", account_id, exc)


async def _advance(session_maker: SessionMaker, scope: str, listed_until: datetime) -> None:
    async with session_maker() as session, session.begin():
        cursor = await session.get(ReconcileCursor, scope)
        if cursor is None:
            session.add(ReconcileCursor(scope=scope, listed_until=listed_until))
        elif cursor.listed_until < listed_until:
            cursor.listed_until = listed_until


async def reconcile(
    session_maker: SessionMaker,
    gateway: StripeGateway,
    after_commit: AfterCommit,
    settings: Settings,
    *,
    since: datetime | None = None,
    max_accounts: int = MAX_ACCOUNTS_PER_RUN,
    max_events: int = MAX_EVENTS_PER_SCOPE,
    sync_accounts: bool = True,
) -> ReconcileReport:
    """One reconciliation pass (see the module docstring); records a `ReconcileRun`.

    Each scope is listed from its own cursor (minus a margin); `since` overrides that
    for every scope, e.g. to re-read a known outage.
    """
    now = utcnow()
    cursors = await _cursors(session_maker)
    report = ReconcileReport(since=since or _since_for(PLATFORM_SCOPE, cursors, now))
    async with session_maker() as session, session.begin():
        run = ReconcileRun(started_at=now, since=since)
        session.add(run)
    accounts = await _accounts_to_scan(session_maker, cursors, max_accounts)
    # (cursor scope, the connected account listed): the platform, its v2 events when
    # the deployment uses Accounts v2, then connected accounts in rotation.
    scopes: list[tuple[str, str | None]] = [(PLATFORM_SCOPE, None)]
    if await _uses_accounts_v2(session_maker, settings):
        scopes.append((V2_SCOPE, None))
    scopes += [(account_id, account_id) for account_id in accounts]
    first_error: str | None = None
    for scope, stripe_account in scopes:
        scope_since = since or _since_for(scope, cursors, now)
        report.since = min(report.since, scope_since)
        try:
            if scope == V2_SCOPE:
                await _pull_v2_events(
                    session_maker,
                    gateway,
                    after_commit,
                    report,
                    scope_since,
                    max_events=max_events,
                    live_mode=settings.stripe_live_mode,
                )
            else:
                await _pull_events(
                    session_maker,
                    gateway,
                    after_commit,
                    report,
                    stripe_account,
                    scope_since,
                    max_events=max_events,
                    live_mode=settings.stripe_live_mode,
                )
        except Exception as exc:
            # One unreachable account (deauthorized, 5xx) must not stop the others; its
            # cursor stays put so the next run retries the same window.
            report.errors += 1
            first_error = first_error or f"{scope}: {exc}"
            logger.warning("reconcile: events of %s: %s", scope, exc)
            if (
                stripe_account is not None
                and isinstance(exc, StripeGatewayError)
                and exc.kind in LOST_ACCESS
            ):
                # The platform lost the account: record it, so later runs skip it.
                await _refetch_quietly(session_maker, gateway, stripe_account)
        else:
            await _advance(session_maker, scope, now)
        if stripe_account is not None:
            report.accounts_scanned += 1
    if sync_accounts:
        try:
            async with session_maker() as session, session.begin():
                report.accounts_synced = await sync_stale_accounts(
                    session,
                    gateway,
                    older_than=timedelta(seconds=settings.reconcile_stale_after_s),
                    limit=ACCOUNT_SYNC_LIMIT,
                )
        except Exception as exc:
            # The domain syncs in one transaction: one failing account rolls back the
            # pass, which the next run repeats.
            report.errors += 1
            first_error = first_error or f"account sync: {exc}"
            logger.warning("reconcile: account sync failed: %s", exc)
    async with session_maker() as session, session.begin():
        row = await session.get(ReconcileRun, run.id)
        assert row is not None
        row.since = report.since
        row.finished_at = utcnow()
        row.accounts_scanned = report.accounts_scanned
        row.events_seen = report.events_seen
        row.events_inserted = report.events_inserted
        row.accounts_synced = report.accounts_synced
        row.error = first_error[:2000] if first_error else None
    logger.info("reconcile: %s", report.as_dict())
    return report


async def reconcile_stripe(ctx: JobContext, force: bool = False) -> dict[str, Any] | None:
    """Reconcile when `reconcile_interval_s` has passed since the last run started."""
    session_maker, settings = ctx["session_maker"], ctx["settings"]
    if not force:
        async with session_maker() as session:
            last = await session.scalar(select(func.max(ReconcileRun.started_at)))
        interval = timedelta(seconds=settings.reconcile_interval_s)
        # A little slack so a run that started a few seconds late doesn't skip a slot.
        if last is not None and utcnow() - last < interval - timedelta(seconds=30):
            return None
    report = await reconcile(session_maker, ctx["gateway"], ctx["after_commit"], settings)
    return report.as_dict()


def parse_since(value: str) -> datetime:
    """An ISO 8601 time (naive means UTC) for `platform-service reconcile --since`."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
