"""An account's portal settings (its overrides over the platform's defaults), read and saved.

Saving an account's settings validates its effective document, stores it as a
new version and syncs it to Stripe. The API's saves run in a transaction of
their own, `kept_on(session_maker, StripeGatewayError)`: when the sync fails,
the new version and the account's `out_of_sync` state (with the error; the
previous configuration still live) are committed, and the Stripe error answers
the caller (422 or 502); `sync_portal_settings` or a later save finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import get_account, lock_account_for_write
from platform_service.auth import audit
from platform_service.branding.service import shown_name
from platform_service.db.transaction import SessionMaker, kept_on
from platform_service.errors import NotFound, ValidationFailed
from platform_service.portal.document import (
    PortalSettings,
    PortalSettingsPatch,
    apply_patch,
    effective_headline,
)
from platform_service.portal.effective import (
    Effective,
    as_patch,
    check_business_name,
    diff,
    dump,
    effective_for,
    platform_patch,
    raise_first,
    without_business_name,
)
from platform_service.portal.models import AccountPortalSettings, PortalSettingsVersion
from platform_service.portal.schemas import AccountPortalSettingsOut, PortalApplyResult
from platform_service.portal.sync import check_references, configuration_home, push
from platform_service.portal.validation import normalize_custom_domain, validate
from platform_service.portal.versions import (
    account_row,
    find_row,
    get_version,
    new_version,
    sync_state,
)
from platform_service.stripe.errors import StripeGatewayError
from platform_service.stripe.gateway import StripeGateway

Build = Callable[[PortalSettingsPatch], PortalSettingsPatch]


class Saved(NamedTuple):
    """What `save_settings` did, and the account's settings as they now stand."""

    result: PortalApplyResult
    settings: AccountPortalSettingsOut


# ------------------------------------------------------------------ account settings


def account_out(
    account: ConnectedAccount, row: AccountPortalSettings | None, effective: Effective
) -> AccountPortalSettingsOut:
    """The API's view of an account's settings, `effective` being its document."""
    return AccountPortalSettingsOut(
        account_id=account.id,
        version=row.version if row is not None else 0,
        settings=effective.settings,
        overrides=as_patch(row.overrides) if row is not None else PortalSettingsPatch(),
        fields=effective.fields,
        effective_headline=effective_headline(effective.settings),
        sync=sync_state(row),
    )


async def get_account_settings(session: AsyncSession, account_id: str) -> AccountPortalSettingsOut:
    """The account's effective document, its overrides and where each field came from."""
    account = await get_account(session, account_id)
    row = await find_row(session, account_id)
    overrides = as_patch(row.overrides) if row is not None else PortalSettingsPatch()
    shown = await shown_name(session, account)
    effective = effective_for(
        await platform_patch(session), overrides, shown.name, name_source=shown.source
    )
    return account_out(account, row, effective)


async def check_custom_domain(
    session: AsyncSession, settings: PortalSettings, account_id: str
) -> None:
    """The custom domain is not another account's (compared normalised)."""
    domain = settings.customisation.custom_domain
    if domain is None:
        return
    owner = await session.scalar(
        select(AccountPortalSettings.account_id).where(
            AccountPortalSettings.custom_domain == normalize_custom_domain(domain),
            AccountPortalSettings.account_id != account_id,
        )
    )
    if owner is not None:
        raise _domain_taken(domain)


def _domain_taken(domain: str) -> ValidationFailed:
    return ValidationFailed(
        f"custom_domain {domain!r} is already used by another account; each custom domain "
        "belongs to one account.",
        code="custom_domain_taken",
        param="customisation.custom_domain",
    )


async def save_settings(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    build: Build,
    *,
    actor: str,
    action: str,
    caller_key: str | None = None,
    dry_run: bool = False,
) -> Saved:
    """Validate and store the overrides `build(current)` returns, as a new version, then sync.

    Syncs also when nothing changed but the account is not in sync, so a retry
    after a failed sync completes it. A failed sync raises `StripeGatewayError`
    with the new version and the `out_of_sync` state in `session`.
    """
    if dry_run:
        account = await get_account(session, account_id)
    else:
        account = await lock_account_for_write(session, account_id)
    row = await account_row(session, account_id, lock=not dry_run, create=not dry_run)
    platform = await platform_patch(session)
    # A name stored before it became read-only is dropped, never held against a save.
    current = without_business_name(as_patch(row.overrides))
    shown = await shown_name(session, account)
    overrides = build(current)
    check_business_name(overrides, shown.name, shown.whose)
    overrides = without_business_name(overrides)
    before = effective_for(platform, current, shown.name, name_source=shown.source)
    after = effective_for(platform, overrides, shown.name, name_source=shown.source)
    changes = diff(before.settings, after.settings)
    changed = bool(changes) or dump(overrides) != row.overrides
    # A fresh account's first document is saved even when it sets nothing.
    store = changed or row.version == 0
    home = configuration_home(account)
    if store:
        raise_first(validate(after.settings))
        await check_custom_domain(session, after.settings, account_id)
        await check_references(gateway, after.settings, home)
    if not dry_run:
        latest: PortalSettingsVersion | None
        if store:
            latest = await _store(
                session, row, overrides, after.settings, changes,
                home=home, actor=actor, action=action,
            )  # fmt: skip
        else:
            latest = await get_version(session, account_id, row.version)
        if latest is not None and (
            row.sync_status != "in_sync" or row.live_version != latest.version
        ):
            await push(session, gateway, row, latest, caller_key=caller_key)
    result = PortalApplyResult(
        changed=changed,
        diff=changes,
        version=row.version,
        configuration_id=row.configuration_id,
        sync_status=sync_state(row).status,
    )
    return Saved(result, account_out(account, row, before if dry_run else after))


async def _store(
    session: AsyncSession,
    row: AccountPortalSettings,
    overrides: PortalSettingsPatch,
    settings: PortalSettings,
    changes: dict[str, dict[str, Any]],
    *,
    home: str,
    actor: str,
    action: str,
) -> PortalSettingsVersion:
    """Write the new overrides and the version they make, with its audit record."""
    old_overrides = dict(row.overrides)
    row.overrides = dump(overrides)
    domain = settings.customisation.custom_domain
    row.custom_domain = normalize_custom_domain(domain) if domain is not None else None
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another account took the domain since `check_custom_domain` looked.
        raise _domain_taken(domain or "") from None
    version = new_version(session, row, settings, home=home, actor=actor)
    await audit.record(
        session,
        actor=actor,
        action=action,
        account_id=row.account_id,
        before={"version": row.version - 1, "overrides": old_overrides},
        after={"version": row.version, "overrides": row.overrides, "diff": changes},
    )
    await session.flush()
    return version


# ------------------------------------------------------------------ API writes


async def put_account_settings(
    session_maker: SessionMaker,
    gateway: StripeGateway,
    account_id: str,
    overrides: PortalSettingsPatch,
    *,
    actor: str,
) -> AccountPortalSettingsOut:
    """Replace the account's overrides (what it leaves out is inherited) and sync."""
    async with kept_on(session_maker, StripeGatewayError) as session:
        saved = await save_settings(
            session, gateway, account_id, lambda _: overrides,
            actor=actor, action="portal_settings.updated",
        )  # fmt: skip
    return saved.settings


async def patch_account_settings(
    session_maker: SessionMaker,
    gateway: StripeGateway,
    account_id: str,
    patch: PortalSettingsPatch,
    *,
    reset: list[str],
    actor: str,
) -> AccountPortalSettingsOut:
    """Change some overrides (and drop the `reset` paths back to inherited), then sync."""

    def build(current: PortalSettingsPatch) -> PortalSettingsPatch:
        try:
            return apply_patch(current, patch, reset=reset)
        except KeyError as exc:
            raise ValidationFailed(str(exc.args[0]), param="reset") from None

    async with kept_on(session_maker, StripeGatewayError) as session:
        saved = await save_settings(
            session, gateway, account_id, build, actor=actor, action="portal_settings.updated"
        )
    return saved.settings


async def restore_version(
    session_maker: SessionMaker,
    gateway: StripeGateway,
    account_id: str,
    version: int,
    *,
    actor: str,
) -> AccountPortalSettingsOut:
    """Save version `version`'s overrides as a new version and sync it.

    The overrides are restored, not a frozen copy of the whole document: what
    that version inherited is still inherited from today's platform defaults.
    """
    async with kept_on(session_maker, StripeGatewayError) as session:
        await get_account(session, account_id)
        old = await get_version(session, account_id, version)
        if old is None:
            raise NotFound(
                f"No version {version} of account {account_id}'s portal settings.",
                param="version",
            )
        overrides = as_patch(old.overrides)
        saved = await save_settings(
            session, gateway, account_id, lambda _: overrides,
            actor=actor, action="portal_settings.restored",
        )  # fmt: skip
    return saved.settings
