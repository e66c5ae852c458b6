"""What the accounts domain does with Stripe events (the webhooks inbox calls these).

Every handler treats the event as a trigger to refetch the account from Stripe,
so a late or duplicated delivery can only ever apply the current state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service, stripe_api
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import ConnectedAccount
from platform_service.jobs.context import JobContext
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError


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


async def on_v2_account_event(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """A thin `v2.core.account…` event: fetch the full event, then the account, and apply.

    The notification only names what changed; the event is read back from Stripe
    (which proves it is Stripe's and current) and the account is refetched, so a
    late, duplicated or replayed notification can only apply the current state.
    An account the service doesn't know is imported when it is a seller (merchant
    or recipient configuration); customer Accounts are not sellers.
    """
    gateway = ctx["gateway"]
    actor = f"stripe:{event.get('id')}"
    try:
        full = await gateway.retrieve_event_v2(
            str(event["id"]), stripe_context=event.get("context")
        )
    except StripeGatewayError as exc:
        if exc.kind is not StripeErrorKind.RESOURCE_MISSING:
            raise
        # Stripe keeps v2 events 30 days: a later replay has the notification only
        # (verified when it was delivered), which still names the account.
        full = event
    if full.get("context"):
        return  # inside a connected account (its customer Accounts): not a seller
    account_id = _v2_account_id(full)
    if account_id is None:
        return
    known = await session.scalar(
        select(ConnectedAccount.id).where(ConnectedAccount.id == account_id)
    )
    if known is not None:
        await service.sync_account(session, gateway, account_id, actor=actor)
        return
    try:
        data = await gateway.retrieve_account_v2(account_id)
    except StripeGatewayError as exc:
        if exc.kind in service.LOST_ACCESS:
            return  # gone, or not the platform's to read: nothing to import
        raise
    configurations = data.get("applied_configurations") or []
    if data.get("closed") or not {"merchant", "recipient"} & set(configurations):
        return
    if full.get("type") == "v2.core.account.created" and (data.get("metadata") or {}).get(
        service.EXTERNAL_REF_KEY
    ):
        # The service created it: the creating request inserts its row (and answers
        # 201); importing it here too could beat that request's commit.
        return
    await service.upsert_from_stripe(
        session,
        stripe_api.v1_shape(data),
        default_charge_model=ChargeModel.DIRECT,
        actor=actor,
        api="v2",
    )


def _v2_account_id(event: dict[str, Any]) -> str | None:
    """The account a v2 event is about: its related object, or, for a returned account
    link (which has none), `data.account_id`."""
    if str(event.get("type")).startswith("v2.core.account_link."):
        value = (event.get("data") or {}).get("account_id")
    else:
        related = event.get("related_object") or {}
        value = related.get("id") if related.get("type") == "v2.core.account" else None
    return str(value) if value else None
