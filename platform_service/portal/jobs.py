"""Portal jobs: a configuration for every new account, re-syncs after failures or platform changes."""

from __future__ import annotations

from arq import Retry
from sqlalchemy import select

from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import get_account
from platform_service.db.transaction import kept_on
from platform_service.errors import NotFound
from platform_service.jobs.context import JobContext, job_try
from platform_service.portal.effective import platform_patch
from platform_service.portal.sync import sync_account_portal
from platform_service.stripe.errors import StripeGatewayError

MAX_TRIES = 6
_PAGE = 200


async def _sync(ctx: JobContext, account_id: str, *, only_if_missing: bool) -> str:
    try:
        # A failed sync keeps its `out_of_sync` record with the error.
        async with kept_on(ctx["session_maker"], StripeGatewayError) as session:
            account = await get_account(session, account_id)
            row = await sync_account_portal(
                session,
                ctx["gateway"],
                account,
                await platform_patch(session),
                actor="system:portal_sync",
                only_if_missing=only_if_missing,
            )
            return row.sync_status
    except NotFound:
        return "missing"
    except StripeGatewayError as exc:
        tries = job_try(ctx)
        if exc.retryable and tries < MAX_TRIES:
            raise Retry(defer=min(5 * 2 ** (tries - 1), 300)) from exc
        return "out_of_sync"


async def ensure_portal_configuration(ctx: JobContext, account_id: str) -> str:
    """Give a new account a configuration from the platform defaults (no-op if it has one)."""
    return await _sync(ctx, account_id, only_if_missing=True)


async def sync_portal_settings(ctx: JobContext, account_id: str) -> str:
    """Bring one account's configuration up to its effective settings (retry after failure)."""
    return await _sync(ctx, account_id, only_if_missing=False)


async def resync_portal_settings(ctx: JobContext) -> int:
    """After the platform defaults change: enqueue a sync of every account; returns the count."""
    queue = ctx["queue"]
    after = 0
    count = 0
    while True:
        async with ctx["session_maker"]() as session:
            rows = list(
                await session.execute(
                    select(ConnectedAccount.seq, ConnectedAccount.id)
                    .where(ConnectedAccount.seq > after)
                    .order_by(ConnectedAccount.seq)
                    .limit(_PAGE)
                )
            )
        if not rows:
            return count
        for seq, account_id in rows:
            await queue.enqueue("sync_portal_settings", account_id)
            after, count = seq, count + 1
