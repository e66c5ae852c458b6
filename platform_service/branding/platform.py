"""The platform's own branding, as Stripe holds it.

Portals of destination and separate-charges accounts are plain platform calls,
so they show the platform account's `business_profile.name` and
`settings.branding`, which the platform sets in its Stripe Dashboard. The
service reads them (never writes them) so previews and `/branding/effective`
show what customers really see. The service's own "platform defaults" are
something else: the values connected accounts inherit when the service writes
their branding.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth import audit
from platform_service.branding.models import PlatformStripeBranding
from platform_service.branding.rules import BrandingValues
from platform_service.db.base import utcnow
from platform_service.db.lookup import get_or_create_for_update
from platform_service.jobs.context import JobContext
from platform_service.stripe.gateway import StripeGateway

ROW_ID: Final = 1
# The reconcile sweep re-reads it at least this often, in case an `account.updated`
# for the platform was never delivered.
MAX_AGE: Final = timedelta(hours=1)
_FIELDS: Final = ("business_name", "icon", "logo", "primary_color", "secondary_color")


async def read(session: AsyncSession) -> PlatformStripeBranding | None:
    """What was last read from Stripe (None until the first read)."""
    return await session.get(PlatformStripeBranding, ROW_ID)


def values(row: PlatformStripeBranding | None) -> BrandingValues | None:
    """The row in branding terms (None until read), as `resolve_branding` takes it."""
    if row is None:
        return None
    return BrandingValues(
        display_name=row.business_name if row.business_name and row.business_name.strip() else None,
        icon=row.icon,
        logo=row.logo,
        button_color=row.primary_color,
        background_color=row.secondary_color,
    )


async def stripe_values(session: AsyncSession) -> BrandingValues | None:
    """The platform's branding as last read from Stripe (None until the first read)."""
    return values(await read(session))


def _from_account(account: dict[str, Any]) -> dict[str, Any]:
    profile = account.get("business_profile") or {}
    branding = (account.get("settings") or {}).get("branding") or {}
    colors = {
        name: str(branding[name]).upper() if branding.get(name) else None
        for name in ("primary_color", "secondary_color")
    }
    return {
        "business_name": profile.get("name") or None,
        "icon": _file_id(branding.get("icon")),
        "logo": _file_id(branding.get("logo")),
        **colors,
    }


def _file_id(value: Any) -> str | None:
    # Expanded files come back as objects; the id is what the service keeps.
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


async def refresh(
    session: AsyncSession, gateway: StripeGateway, *, actor: str
) -> PlatformStripeBranding:
    """Read the platform account from Stripe and store its branding (audited when it changed)."""
    account = await gateway.retrieve_current_account(stripe_account=None)
    fields = _from_account(account)
    row = await get_or_create_for_update(
        session,
        PlatformStripeBranding,
        ROW_ID,
        lambda: PlatformStripeBranding(id=ROW_ID, account_id=str(account["id"])),
    )
    before = {name: getattr(row, name) for name in _FIELDS}
    row.account_id = str(account["id"])
    for name, value in fields.items():
        setattr(row, name, value)
    row.fetched_at = utcnow()
    if before != fields:
        await audit.record(
            session,
            actor=actor,
            action="platform_branding.read_from_stripe",
            account_id=None,
            before={k: v for k, v in before.items() if v is not None},
            after={k: v for k, v in fields.items() if v is not None},
        )
    await session.flush()
    return row


def is_stale(row: PlatformStripeBranding | None) -> bool:
    """Never read, or read longer ago than `MAX_AGE`."""
    return row is None or utcnow() - row.fetched_at > MAX_AGE


async def read_platform_branding(ctx: JobContext) -> bool:
    """Cron (and at startup): re-read the platform's branding when never read or stale."""
    async with ctx["session_maker"]() as session, session.begin():
        if not is_stale(await read(session)):
            return False
        await refresh(session, ctx["gateway"], actor="system:platform-branding")
    return True
