"""An account's portal settings row and its saved versions.

The row holds the account's overrides, its newest `version` and what is live
on Stripe; every save adds a `PortalSettingsVersion`: the effective document,
what it compiled to and where its configuration lives.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.service import get_account
from platform_service.errors import ValidationFailed
from platform_service.pagination import keyset_page
from platform_service.portal.compile import compile_configuration, content_hash
from platform_service.portal.document import PortalSettings
from platform_service.portal.effective import dump
from platform_service.portal.models import AccountPortalSettings, PortalSettingsVersion
from platform_service.portal.schemas import (
    PortalSettingsVersionList,
    PortalSettingsVersionOut,
    SyncState,
    SyncStatus,
)


def _fresh(account_id: str) -> AccountPortalSettings:
    return AccountPortalSettings(
        account_id=account_id, overrides={}, version=0, sync_status="pending"
    )


async def account_row(
    session: AsyncSession, account_id: str, *, lock: bool, create: bool = True
) -> AccountPortalSettings:
    """The account's settings row; created when missing, or (`create=False`) a transient fresh one."""
    stmt = select(AccountPortalSettings).where(AccountPortalSettings.account_id == account_id)
    if lock:
        # A copy loaded earlier in the session is refreshed: the lock is for what is there now.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(stmt)
    if row is None and not create:
        return _fresh(account_id)
    if row is None:
        try:
            async with session.begin_nested():
                row = _fresh(account_id)
                session.add(row)
        except IntegrityError:
            row = None  # a concurrent request made it first
        if row is None or lock:
            row = await session.scalar(stmt)
    assert row is not None
    return row


async def find_row(session: AsyncSession, account_id: str) -> AccountPortalSettings | None:
    """The account's settings row, if it was ever made."""
    row: AccountPortalSettings | None = await session.scalar(
        select(AccountPortalSettings).where(AccountPortalSettings.account_id == account_id)
    )
    return row


async def get_version(
    session: AsyncSession, account_id: str, version: int
) -> PortalSettingsVersion | None:
    found: PortalSettingsVersion | None = await session.scalar(
        select(PortalSettingsVersion).where(
            PortalSettingsVersion.account_id == account_id,
            PortalSettingsVersion.version == version,
        )
    )
    return found


def new_version(
    session: AsyncSession,
    row: AccountPortalSettings,
    settings: PortalSettings,
    *,
    home: str,
    actor: str,
) -> PortalSettingsVersion:
    """Add the next version of the account's document (to be synced to `home`)."""
    compiled = compile_configuration(settings)
    row.version += 1
    row.sync_status = "pending"
    version = PortalSettingsVersion(
        account_id=row.account_id,
        version=row.version,
        overrides=dict(row.overrides),
        document=dump(settings),
        compiled=compiled,
        content_hash=content_hash(compiled),
        stripe_account=home,
        actor=actor,
    )
    session.add(version)
    return version


def sync_state(row: AccountPortalSettings | None) -> SyncState:
    if row is None:
        return SyncState(status="pending")
    status: SyncStatus = row.sync_status  # type: ignore[assignment]
    return SyncState(
        status=status,
        error=row.sync_error,
        stripe_account=row.stripe_account,
        configuration_id=row.configuration_id,
        live_version=row.live_version,
        synced_at=row.synced_at,
        login_page_url=row.login_page_url,
    )


async def live_settings(session: AsyncSession, row: AccountPortalSettings) -> PortalSettings | None:
    """The document whose configuration is live (what sessions get), if any."""
    if row.live_version is None:
        return None
    version = await get_version(session, row.account_id, row.live_version)
    return msgspec.convert(version.document, PortalSettings) if version is not None else None


async def list_versions(
    session: AsyncSession, account_id: str, *, limit: int, starting_after: int | None = None
) -> PortalSettingsVersionList:
    """Saved versions, newest first, after version `starting_after`."""
    await get_account(session, account_id)
    if (
        starting_after is not None
        and await get_version(session, account_id, starting_after) is None
    ):
        raise ValidationFailed(
            f"No version {starting_after} of account {account_id}'s portal settings.",
            param="starting_after",
        )
    row = await find_row(session, account_id)
    live = row.live_version if row is not None else None
    page = await keyset_page(
        session,
        select(PortalSettingsVersion).where(PortalSettingsVersion.account_id == account_id),
        order=PortalSettingsVersion.version,
        limit=limit,
        starting_after=starting_after,
    )
    return PortalSettingsVersionList(
        data=[
            PortalSettingsVersionOut(
                version=v.version,
                created_at=v.created_at,
                actor=v.actor,
                live=v.version == live,
                content_hash=v.content_hash,
                stripe_account=v.stripe_account,
                configuration_id=v.configuration_id,
                settings=v.document,
                overrides=v.overrides,
            )
            for v in page.rows
        ],
        has_more=page.has_more,
    )
