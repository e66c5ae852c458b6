"""The platform's portal defaults: what every account inherits unless it overrides it.

Changing them re-syncs every account, in the background (`resync_portal_settings`).
"""

from __future__ import annotations

from typing import Final

from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth import audit
from platform_service.db.lookup import get_or_create_for_update
from platform_service.errors import ValidationFailed
from platform_service.jobs.outbox import AfterCommit
from platform_service.portal.document import PortalSettingsPatch
from platform_service.portal.effective import (
    PLACEHOLDER_NAME,
    PLATFORM_ROW_ID,
    as_patch,
    dump,
    effective_for,
    raise_first,
)
from platform_service.portal.models import PLATFORM, PlatformPortalSettings
from platform_service.portal.schemas import PlatformPortalSettingsOut
from platform_service.portal.sync import check_references
from platform_service.portal.validation import validate
from platform_service.stripe.gateway import StripeGateway

# Options that belong to one account and make no sense as a platform default.
ACCOUNT_ONLY: Final = ("custom_domain", "business_name")


def _platform_out(
    patch: PortalSettingsPatch, row: PlatformPortalSettings | None
) -> PlatformPortalSettingsOut:
    effective = effective_for(patch, PortalSettingsPatch(), None)
    return PlatformPortalSettingsOut(
        settings=patch,
        effective=effective.settings,
        fields=effective.fields,
        updated_at=row.updated_at if row is not None else None,
        updated_by=row.updated_by if row is not None else None,
    )


async def get_platform_settings(session: AsyncSession) -> PlatformPortalSettingsOut:
    """The platform's defaults and the document an account without overrides gets."""
    row = await session.get(PlatformPortalSettings, PLATFORM_ROW_ID)
    return _platform_out(as_patch(row.patch) if row is not None else PortalSettingsPatch(), row)


async def put_platform_settings(
    session: AsyncSession,
    gateway: StripeGateway,
    after_commit: AfterCommit,
    patch: PortalSettingsPatch,
    *,
    actor: str,
) -> PlatformPortalSettingsOut:
    """Replace the platform's defaults; accounts are re-synced by a job after commit."""
    if patch.customisation is not UNSET:
        for name in ACCOUNT_ONLY:
            if getattr(patch.customisation, name) not in (UNSET, None):
                raise ValidationFailed(
                    f"{name} belongs to each account and cannot be a platform default.",
                    code="account_only",
                    param=f"customisation.{name}",
                )
    settings = effective_for(patch, PortalSettingsPatch(), PLACEHOLDER_NAME).settings
    raise_first(validate(settings))
    # Inherited products live where platform-side configurations do; direct
    # accounts get them checked against their own account when they save.
    await check_references(gateway, settings, PLATFORM)
    # Two first PUTs would race to insert the single row; SQLite takes its writer lock.
    row = await get_or_create_for_update(
        session,
        PlatformPortalSettings,
        PLATFORM_ROW_ID,
        lambda: PlatformPortalSettings(id=PLATFORM_ROW_ID, patch={}),
    )
    before = dict(row.patch or {})
    after = dump(patch)
    if before != after:
        row.patch = after
        row.updated_by = actor
        await audit.record(
            session,
            actor=actor,
            action="portal_settings.platform_updated",
            account_id=None,
            before=before,
            after=after,
        )
        await session.flush()
        after_commit.enqueue(session, "resync_portal_settings")
    return _platform_out(patch, row)
