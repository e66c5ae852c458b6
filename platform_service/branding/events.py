"""What the branding domain does with Stripe events (the webhooks inbox calls these)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.branding import platform
from platform_service.branding.drift import check_drift
from platform_service.branding.models import AccountBranding
from platform_service.jobs.context import JobContext
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError

# Stripe no longer lets the platform read the account; the accounts handler
# marks it disconnected, and there is no branding to compare.
_LOST_ACCESS = {
    StripeErrorKind.ACCOUNT_INVALID,
    StripeErrorKind.PERMISSION,
    StripeErrorKind.RESOURCE_MISSING,
}


def _account_id(event: dict[str, Any]) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    if obj.get("object") == "account" and obj.get("id"):
        return str(obj["id"])
    account = event.get("account")
    return str(account) if account else None


async def on_account_updated_branding(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """`account.updated`: refetch the account and record drift from the last branding write.

    The payload is only a trigger (it may be stale or replayed): the check
    always compares what Stripe holds now.
    """
    account_id = _account_id(event)
    if account_id is not None:
        await check_branding_drift(session, ctx, account_id, actor=f"stripe:{event.get('id')}")


async def check_branding_drift(
    session: AsyncSession, ctx: JobContext, account_id: str, *, actor: str
) -> None:
    """Compare what Stripe holds now with the last branding write, if the service made one."""
    row = await session.get(AccountBranding, account_id)
    if row is None or not row.stripe_written:
        return  # the service never wrote this account's branding: nothing to drift from
    try:
        await check_drift(session, ctx["gateway"], account_id, actor=actor)
    except StripeGatewayError as exc:
        if exc.kind not in _LOST_ACCESS:
            raise


async def on_platform_account_updated(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """`account.updated` for the platform itself: re-read its branding from Stripe.

    A platform event carries no `account`; the payload is only a trigger, so the
    handler reads what Stripe holds now (a stale or replayed event is harmless).
    """
    if event.get("account"):
        return  # a connected account's event
    obj = (event.get("data") or {}).get("object") or {}
    known = await platform.read(session)
    if known is not None and obj.get("id") != known.account_id:
        return
    await platform.refresh(session, ctx["gateway"], actor=f"stripe:{event.get('id')}")


async def on_v2_account_branding(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """A thin `v2.core.account[configuration.merchant].updated`: check branding drift.

    Like `account.updated` for v1 accounts: the notification is a trigger, the
    check reads what Stripe holds now.
    """
    related = event.get("related_object") or {}
    if related.get("type") == "v2.core.account" and not event.get("context"):
        await check_branding_drift(
            session, ctx, str(related["id"]), actor=f"stripe:{event.get('id')}"
        )
