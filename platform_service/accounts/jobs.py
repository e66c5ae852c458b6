"""Account jobs: import every connected account from Stripe, refetch one account."""

from __future__ import annotations

from typing import Any

from arq import Retry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_service.accounts import service, stripe_api
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import AccountImport, ConnectedAccount
from platform_service.db.base import utcnow
from platform_service.jobs.context import JobContext, job_try

IMPORT_MAX_TRIES = 5


# arq keeps a killed job locked for the longest job timeout (plus 10 s) before running
# it again, so no job here runs longer than an hour: a long import resumes instead.
async def import_accounts(ctx: JobContext, import_id: str) -> str:
    """Page through every account connected on Stripe and upsert it; resumable, safe to rerun."""
    session_maker = ctx["session_maker"]
    async with session_maker() as session, session.begin():
        run = await session.get(AccountImport, import_id)
        if run is None or run.status in ("succeeded", "failed"):
            return run.status if run else "missing"
        run.status = "running"
        run.started_at = run.started_at or utcnow()
        resume_after = run.last_account_id
        default_model = ChargeModel(run.charge_model)
        actor = run.actor
        api: stripe_api.AccountsApi = "v2" if run.accounts_api == "v2" else "v1"
    page: list[dict[str, Any]] = []
    try:
        accounts = stripe_api.iterate(ctx["gateway"], api, resume_after=resume_after)
        async for account in accounts:
            page.append(account)
            if len(page) >= 100:
                await _apply_page(session_maker, import_id, page, default_model, actor, api)
                page = []
        if page:
            await _apply_page(session_maker, import_id, page, default_model, actor, api)
    except Exception as exc:
        final_try = job_try(ctx) >= IMPORT_MAX_TRIES
        async with session_maker() as session, session.begin():
            run = await session.get(AccountImport, import_id)
            if run is not None:
                run.error = f"{type(exc).__name__}: {exc}"[:1000]
                if final_try:
                    run.status, run.finished_at = "failed", utcnow()
        if final_try:
            return "failed"
        raise Retry(defer=5 * job_try(ctx)) from exc
    async with session_maker() as session, session.begin():
        run = await session.get(AccountImport, import_id)
        if run is not None:
            run.status, run.finished_at, run.error = "succeeded", utcnow(), None
    return "succeeded"


async def _apply_page(
    session_maker: async_sessionmaker[AsyncSession],
    import_id: str,
    page: list[dict[str, Any]],
    default_model: ChargeModel,
    actor: str,
    api: stripe_api.AccountsApi,
) -> None:
    # One transaction per page: the progress counters move with the rows they count.
    async with session_maker() as session, session.begin():
        created = 0
        for data in page:
            created += await service.upsert_from_stripe(
                session, data, default_charge_model=default_model, actor=actor, api=api
            )
        run = await session.get(AccountImport, import_id, with_for_update=True)
        if run is not None:
            run.seen += len(page)
            run.created += created
            run.updated += len(page) - created
            run.last_account_id = page[-1]["id"]


async def sync_account(ctx: JobContext, account_id: str) -> str | None:
    """Refetch one account from Stripe (webhook-triggered or on demand)."""
    async with ctx["session_maker"]() as session, session.begin():
        exists = await session.scalar(
            select(ConnectedAccount.id).where(ConnectedAccount.id == account_id)
        )
        if exists is None:
            return None
        row = await service.sync_account(session, ctx["gateway"], account_id, actor="system:sync")
        return row.status
