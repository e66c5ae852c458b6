"""What the accounts domain does with Stripe events (the webhooks inbox calls these).

Every handler treats the event as a trigger to refetch the account from Stripe,
so a late or duplicated delivery can only ever apply the current state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import ConnectedAccount
from platform_service.jobs.context import JobContext


def _account_id(event: dict[str, Any]) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    if obj.get("object") == "account":
        return str(obj.get("id"))
    account = event.get("account")
    return str(account) if account else None


async def on_account_updated(session: AsyncSession, ctx: JobContext, event: dict[str, Any]) -> None:
    """`account.updated`: refetch and apply; an account the service doesn't know yet is imported.

    An event without `account` is the platform's own account changing (its
    Dashboard settings): never a seller to import (`branding.events` reads it).
    """
    if not event.get("account"):
        return
    account_id = _account_id(event)
    if account_id is None:
        return
    known = await session.scalar(
        select(ConnectedAccount.id).where(ConnectedAccount.id == account_id)
    )
    if known is None:
        data = await ctx["gateway"].retrieve_account(account_id)
        await service.upsert_from_stripe(
            session,
            data,
            default_charge_model=ChargeModel.DIRECT,
            actor=f"stripe:{event.get('id')}",
        )
        return
    await service.sync_account(
        session, ctx["gateway"], account_id, actor=f"stripe:{event.get('id')}"
    )


async def on_capability_updated(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """`capability.updated`: the capability's account is refetched like on account.updated."""
    obj = (event.get("data") or {}).get("object") or {}
    account_id = obj.get("account") or event.get("account")
    if account_id and await session.scalar(
        select(ConnectedAccount.id).where(ConnectedAccount.id == str(account_id))
    ):
        await service.sync_account(
            session, ctx["gateway"], str(account_id), actor=f"stripe:{event.get('id')}"
        )


async def on_account_deauthorized(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """`account.application.deauthorized`: refetch; Stripe refusing access marks it disconnected.

    A deauthorization delivered after the seller reconnected finds the account
    readable again and leaves it connected.
    """
    account_id = event.get("account")
    if account_id and await session.scalar(
        select(ConnectedAccount.id).where(ConnectedAccount.id == str(account_id))
    ):
        await service.sync_account(
            session, ctx["gateway"], str(account_id), actor=f"stripe:{event.get('id')}"
        )
