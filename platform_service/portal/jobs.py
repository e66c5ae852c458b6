"""Portal jobs: a configuration for every new account, re-syncs after failures or platform changes."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry
from sqlalchemy import select

from platform_service.accounts.models import ConnectedAccount
from platform_service.errors import NotFound
from platform_service.portal import service
from platform_service.runtime import Runtime
from platform_service.stripe.errors import StripeGatewayError

logger = logging.getLogger(__name__)
MAX_TRIES = 6
_PAGE = 200


async def _sync(ctx: dict[str, Any], account_id: str, *, only_if_missing: bool) -> str:
    runtime: Runtime = ctx["runtime"]
    failure: StripeGatewayError | None = None
    async with runtime.session() as session, session.begin():
        try:
            row = await service.sync_account_portal(
                session,
                runtime,
                account_id,
                actor="system:portal_sync",
                only_if_missing=only_if_missing,
            )
            status = row.sync_status
        except NotFound:
            return "missing"
        except StripeGatewayError as exc:
            # Leaving the block commits the out_of_sync state with the error.
            failure, status = exc, "out_of_sync"
    job_try = int(ctx.get("job_try") or 1)
    if failure is not None and failure.retryable and job_try < MAX_TRIES:
        raise Retry(defer=min(5 * 2 ** (job_try - 1), 300))
    return status


async def ensure_portal_configuration(ctx: dict[str, Any], account_id: str) -> str:
    """Give a new account a configuration from the platform defaults (no-op if it has one)."""
    return await _sync(ctx, account_id, only_if_missing=True)


async def sync_portal_settings(ctx: dict[str, Any], account_id: str) -> str:
    """Bring one account's configuration up to its effective settings (retry after failure)."""
    return await _sync(ctx, account_id, only_if_missing=False)


async def resync_portal_settings(ctx: dict[str, Any]) -> int:
    """After the platform defaults change: enqueue a sync of every account; returns the count."""
    runtime: Runtime = ctx["runtime"]
    assert runtime.queue is not None, "the worker and the app start the queue"
    after = 0
    count = 0
    while True:
        async with runtime.session() as session:
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
            await runtime.queue.enqueue("sync_portal_settings", account_id)
            after, count = seq, count + 1
