"""Portal settings: platform defaults, account overrides, validation, versions and sync.

Transactions: functions here never commit. A Stripe failure during a sync is
recorded on the account's row (`out_of_sync`, the error, the previous
configuration still current) and the `StripeGatewayError` re-raised; a caller
that wants the new version and that failure state kept commits before
propagating (the routes do, and answer with the mapped Stripe error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

import msgspec
from msgspec import UNSET
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import get_account
from platform_service.auth import audit
from platform_service.errors import NotFound, ValidationFailed, _param_from_litestar
from platform_service.jobs.outbox import enqueue_after_commit
from platform_service.portal.compile import compile_configuration, content_hash
from platform_service.portal.document import (
    PortalSettings,
    PortalSettingsPatch,
    apply_patch,
    effective_headline,
    leaf_values,
    merge,
    overridden_paths,
)
from platform_service.portal.models import (
    PLATFORM,
    AccountPortalSettings,
    PlatformPortalSettings,
    PortalSettingsVersion,
)
from platform_service.portal.schemas import (
    AccountPortalSettingsOut,
    FieldInfo,
    PlatformPortalSettingsOut,
    PortalApplyResult,
    PortalSettingsVersionList,
    PortalSettingsVersionOut,
    SyncState,
    SyncStatus,
)
from platform_service.portal.sync import configuration_home, push_version, stripe_account_header
from platform_service.portal.validation import (
    SettingsIssue,
    normalize_custom_domain,
    referenced_ids,
    validate,
)
from platform_service.runtime import Runtime
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import StripeGateway

PLATFORM_ROW_ID: Final = 1
# Options that belong to one account and make no sense as a platform default.
ACCOUNT_ONLY: Final = ("custom_domain", "business_name")
# Stands in for the business name when checking the platform's defaults alone.
_PLACEHOLDER_NAME: Final = "Platform"
# Rules whose outcome depends on the rest of an account's document: a bulk
# patch cannot be judged on them before it meets each account.
_DEPENDENT_CODES: Final = frozenset(
    {
        "requires_subscription_updates",
        "products_required",
        "conditions_required",
        "requires_cancel",
        "requires_immediate_cancel",
        "coupon_required",
        "options_required",
        "fields_required",
        "required",
    }
)


class Effective(NamedTuple):
    settings: PortalSettings
    fields: dict[str, FieldInfo]


def _dump(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _as_patch(data: dict[str, Any]) -> PortalSettingsPatch:
    return msgspec.convert(data, PortalSettingsPatch)


def decode_patch(data: Any) -> PortalSettingsPatch:
    """A `PortalSettingsPatch` from JSON-like data; ValidationFailed names the bad field."""
    try:
        return msgspec.convert(data, PortalSettingsPatch)
    except msgspec.ValidationError as exc:
        message, param = _param_from_litestar(str(exc), None)
        raise ValidationFailed(message, param=param) from None


def _raise_first(issues: list[SettingsIssue]) -> None:
    if issues:
        first = issues[0]
        raise ValidationFailed(first.message, code=first.code, param=first.param)


def effective_for(
    platform: PortalSettingsPatch, overrides: PortalSettingsPatch, business_name: str | None
) -> Effective:
    """Seed defaults <- platform <- account, with the account's own business name filled in."""
    merged = merge(platform, overrides)
    settings = merged.settings
    fields = {
        path: FieldInfo(source=source, inherited=source != "account")
        for path, source in merged.sources.items()
    }
    if settings.customisation.business_name is None and business_name:
        custom = msgspec.structs.replace(settings.customisation, business_name=business_name)
        settings = msgspec.structs.replace(settings, customisation=custom)
        fields["customisation.business_name"] = FieldInfo(source="account_profile", inherited=True)
    return Effective(settings, fields)


def _diff(before: PortalSettings, after: PortalSettings) -> dict[str, dict[str, Any]]:
    old, new = leaf_values(before), leaf_values(after)
    changes: dict[str, dict[str, Any]] = {}
    for path, value in new.items():
        a, b = _dump(old[path]), _dump(value)
        if a != b:
            changes[path] = {"before": a, "after": b}
    return changes


# ------------------------------------------------------------------ checks with I/O


async def check_references(gateway: StripeGateway, settings: PortalSettings, home: str) -> None:
    """Products, prices and the coupon exist on the Stripe account the configuration lives on."""
    header = stripe_account_header(home)
    where = "the platform" if header is None else f"account {header}"
    for ref in referenced_ids(settings):
        try:
            if ref.kind == "product":
                await gateway.retrieve_product(ref.id, stripe_account=header)
            elif ref.kind == "coupon":
                await gateway.retrieve_coupon(ref.id, stripe_account=header)
            else:
                price = await gateway.retrieve_price(ref.id, stripe_account=header)
                if ref.product is not None and price.get("product") != ref.product:
                    raise ValidationFailed(
                        f"Price {ref.id} belongs to product {price.get('product')}, not "
                        f"{ref.product}; list it under its own product.",
                        code="price_not_in_product",
                        param=ref.param,
                    )
        except StripeGatewayError as exc:
            if exc.kind is not StripeErrorKind.RESOURCE_MISSING:
                raise
            raise ValidationFailed(
                f"No such {ref.kind} '{ref.id}' on {where}, where this account's portal "
                "configuration lives.",
                code="resource_missing",
                param=ref.param,
            ) from None


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


# ------------------------------------------------------------------ platform defaults


async def platform_patch(session: AsyncSession) -> PortalSettingsPatch:
    """The platform's stored defaults (empty when never set)."""
    row = await session.get(PlatformPortalSettings, PLATFORM_ROW_ID)
    return _as_patch(row.patch) if row is not None else PortalSettingsPatch()


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
    return _platform_out(await platform_patch(session), row)


async def put_platform_settings(
    session: AsyncSession, runtime: Runtime, patch: PortalSettingsPatch, *, actor: str
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
    settings = effective_for(patch, PortalSettingsPatch(), _PLACEHOLDER_NAME).settings
    _raise_first(validate(settings))
    # Inherited products live where platform-side configurations do; direct
    # accounts get them checked against their own account when they save.
    await check_references(runtime.gateway, settings, PLATFORM)
    row = await session.get(PlatformPortalSettings, PLATFORM_ROW_ID, with_for_update=True)
    if row is None:
        row = PlatformPortalSettings(id=PLATFORM_ROW_ID, patch={})
        session.add(row)
    before = dict(row.patch or {})
    after = _dump(patch)
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
        enqueue_after_commit(session, runtime, "resync_portal_settings")
    return _platform_out(patch, row)


# ------------------------------------------------------------------ account settings


async def _row(
    session: AsyncSession, account_id: str, *, lock: bool, create: bool = True
) -> AccountPortalSettings:
    stmt = select(AccountPortalSettings).where(AccountPortalSettings.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None and not create:
        # Transient: what a fresh account's row would hold, never added.
        return AccountPortalSettings(
            account_id=account_id, overrides={}, version=0, sync_status="pending"
        )
    if row is None:
        try:
            async with session.begin_nested():
                row = AccountPortalSettings(
                    account_id=account_id, overrides={}, version=0, sync_status="pending"
                )
                session.add(row)
        except IntegrityError:
            row = None
        if row is None or lock:
            row = await session.scalar(stmt)
    assert row is not None
    return row


async def _version(
    session: AsyncSession, account_id: str, version: int
) -> PortalSettingsVersion | None:
    found: PortalSettingsVersion | None = await session.scalar(
        select(PortalSettingsVersion).where(
            PortalSettingsVersion.account_id == account_id,
            PortalSettingsVersion.version == version,
        )
    )
    return found


def _sync_state(row: AccountPortalSettings | None) -> SyncState:
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
    )


async def get_account_settings(session: AsyncSession, account_id: str) -> AccountPortalSettingsOut:
    """The account's effective document, its overrides and where each field came from."""
    account = await get_account(session, account_id)
    row = await session.scalar(
        select(AccountPortalSettings).where(AccountPortalSettings.account_id == account_id)
    )
    return await _account_out(session, account, row)


async def _account_out(
    session: AsyncSession, account: ConnectedAccount, row: AccountPortalSettings | None
) -> AccountPortalSettingsOut:
    overrides = _as_patch(row.overrides) if row is not None else PortalSettingsPatch()
    effective = effective_for(await platform_patch(session), overrides, account.business_name)
    return AccountPortalSettingsOut(
        account_id=account.id,
        version=row.version if row is not None else 0,
        settings=effective.settings,
        overrides=overrides,
        fields=effective.fields,
        effective_headline=effective_headline(effective.settings),
        sync=_sync_state(row),
    )


def _new_version(
    session: AsyncSession,
    row: AccountPortalSettings,
    account: ConnectedAccount,
    settings: PortalSettings,
    *,
    actor: str,
) -> PortalSettingsVersion:
    compiled = compile_configuration(settings)
    row.version += 1
    row.sync_status = "pending"
    version = PortalSettingsVersion(
        account_id=account.id,
        version=row.version,
        overrides=dict(row.overrides),
        document=_dump(settings),
        compiled=compiled,
        content_hash=content_hash(compiled),
        stripe_account=configuration_home(account),
        actor=actor,
    )
    session.add(version)
    return version


async def _push(
    session: AsyncSession,
    gateway: StripeGateway,
    row: AccountPortalSettings,
    version: PortalSettingsVersion,
    caller_key: str | None,
) -> None:
    try:
        await push_version(session, gateway, row, version, caller_key=caller_key)
    except StripeGatewayError as exc:
        row.sync_status = "out_of_sync"
        row.sync_error = f"Stripe ({exc.kind.value}): {exc.message}"[:2000]
        raise


async def save_settings(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    build: Callable[[PortalSettingsPatch], PortalSettingsPatch],
    *,
    actor: str,
    action: str,
    caller_key: str | None = None,
    dry_run: bool = False,
) -> PortalApplyResult:
    """Validate and store the overrides `build(current)` returns, as a new version, then sync.

    Syncs also when nothing changed but the account is not in sync, so a retry
    after a failed sync completes it.
    """
    account = await get_account(session, account_id)
    row = await _row(session, account_id, lock=not dry_run, create=not dry_run)
    platform = await platform_patch(session)
    current = _as_patch(row.overrides)
    overrides = build(current)
    before = effective_for(platform, current, account.business_name).settings
    after = effective_for(platform, overrides, account.business_name).settings
    diff = _diff(before, after)
    changed = bool(diff) or _dump(overrides) != row.overrides
    # A fresh account's first document is saved even when it sets nothing.
    store = changed or row.version == 0
    home = configuration_home(account)
    if store:
        _raise_first(validate(after))
        await check_custom_domain(session, after, account_id)
        await check_references(runtime.gateway, after, home)
    if dry_run:
        return PortalApplyResult(
            changed=changed,
            diff=diff,
            version=row.version,
            configuration_id=row.configuration_id,
            sync_status=_sync_state(row).status,
        )
    latest: PortalSettingsVersion | None
    if store:
        old_overrides = dict(row.overrides)
        row.overrides = _dump(overrides)
        domain = after.customisation.custom_domain
        row.custom_domain = normalize_custom_domain(domain) if domain is not None else None
        try:
            async with session.begin_nested():
                await session.flush()
        except IntegrityError:
            raise _domain_taken(domain or "") from None
        latest = _new_version(session, row, account, after, actor=actor)
        await audit.record(
            session,
            actor=actor,
            action=action,
            account_id=account_id,
            before={"version": row.version - 1, "overrides": old_overrides},
            after={"version": row.version, "overrides": row.overrides, "diff": diff},
        )
        await session.flush()
    else:
        latest = await _version(session, account_id, row.version)
    needs_sync = latest is not None and (
        row.sync_status != "in_sync" or row.live_version != latest.version
    )
    if latest is not None and needs_sync:
        await _push(session, runtime.gateway, row, latest, caller_key)
    return PortalApplyResult(
        changed=changed,
        diff=diff,
        version=row.version,
        configuration_id=row.configuration_id,
        sync_status=_sync_state(row).status,
    )


async def put_account_settings(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    overrides: PortalSettingsPatch,
    *,
    actor: str,
) -> AccountPortalSettingsOut:
    """Replace the account's overrides (what it leaves out is inherited) and sync."""
    await save_settings(
        session,
        runtime,
        account_id,
        lambda _: overrides,
        actor=actor,
        action="portal_settings.updated",
    )
    return await get_account_settings(session, account_id)


async def patch_account_settings(
    session: AsyncSession,
    runtime: Runtime,
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

    await save_settings(
        session, runtime, account_id, build, actor=actor, action="portal_settings.updated"
    )
    return await get_account_settings(session, account_id)


async def list_versions(session: AsyncSession, account_id: str) -> PortalSettingsVersionList:
    """Every saved version, newest first."""
    await get_account(session, account_id)
    row = await session.scalar(
        select(AccountPortalSettings).where(AccountPortalSettings.account_id == account_id)
    )
    live = row.live_version if row is not None else None
    versions = await session.scalars(
        select(PortalSettingsVersion)
        .where(PortalSettingsVersion.account_id == account_id)
        .order_by(PortalSettingsVersion.version.desc())
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
            for v in versions
        ]
    )


async def restore_version(
    session: AsyncSession, runtime: Runtime, account_id: str, version: int, *, actor: str
) -> AccountPortalSettingsOut:
    """Save version `version`'s overrides as a new version and sync it.

    The overrides are restored, not a frozen copy of the whole document: what
    that version inherited is still inherited from today's platform defaults.
    """
    await get_account(session, account_id)
    old = await _version(session, account_id, version)
    if old is None:
        raise NotFound(f"No version {version} of account {account_id}'s portal settings.",
                       param="version")  # fmt: skip
    overrides = _as_patch(old.overrides)
    await save_settings(
        session,
        runtime,
        account_id,
        lambda _: overrides,
        actor=actor,
        action="portal_settings.restored",
    )
    return await get_account_settings(session, account_id)


async def sync_account_portal(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    *,
    actor: str,
    only_if_missing: bool = False,
) -> AccountPortalSettings:
    """Bring the account's configuration up to its effective document (platform changes too).

    With `only_if_missing`, does nothing when the account already has a
    configuration where its charge model needs it. A document that breaks a
    rule (e.g. after a platform change) is recorded as out of sync, not sent.
    """
    account = await get_account(session, account_id)
    row = await _row(session, account_id, lock=True)
    home = configuration_home(account)
    if only_if_missing and row.configuration_id is not None and row.stripe_account == home:
        return row
    overrides = _as_patch(row.overrides)
    settings = effective_for(await platform_patch(session), overrides, account.business_name)
    latest = await _version(session, account_id, row.version)
    if (
        latest is None
        or latest.document != _dump(settings.settings)
        or latest.stripe_account != home
    ):
        issues = validate(settings.settings)
        if issues:
            row.sync_status = "out_of_sync"
            row.sync_error = f"{issues[0].param}: {issues[0].message}"
            return row
        latest = _new_version(session, row, account, settings.settings, actor=actor)
        await session.flush()
    if (
        row.configuration_id is None
        or row.live_version != latest.version
        or row.stripe_account != home
        or row.sync_status != "in_sync"
    ):
        await _push(session, runtime.gateway, row, latest, None)
    return row


async def live_settings(session: AsyncSession, row: AccountPortalSettings) -> PortalSettings | None:
    """The document whose configuration is live (what sessions get), if any."""
    if row.live_version is None:
        return None
    version = await _version(session, row.account_id, row.live_version)
    return msgspec.convert(version.document, PortalSettings) if version is not None else None


# ------------------------------------------------------------------ bulk (issue 7)


async def apply_portal_patch(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    patch: dict[str, Any],
    *,
    idempotency_key: str,
    actor: str,
    dry_run: bool = False,
) -> PortalApplyResult:
    """Apply a PATCH body to one account's overrides, like `PATCH .../portal-settings`.

    Raises ValidationFailed (with `param`) for a patch the account's document
    cannot take, NotFound for an unknown account and StripeGatewayError when
    the sync fails; in that last case the new version and the `out_of_sync`
    state are in `session`: commit it to keep them. `idempotency_key` is folded
    into the Stripe write's key, which also carries the content hash and the
    settings version, so a re-run item repeats no write and loses none.
    A re-run of an item whose version was saved but not synced finds
    `changed=False` and still completes the sync.
    """
    decoded = decode_patch(patch)
    return await save_settings(
        session,
        runtime,
        account_id,
        lambda current: apply_patch(current, decoded),
        actor=actor,
        action="portal_settings.updated",
        caller_key=idempotency_key,
        dry_run=dry_run,
    )


def validate_portal_patch(patch: dict[str, Any]) -> None:
    """Check a bulk patch on its own (shape, values), before it meets any account.

    Rules that depend on the rest of an account's document (e.g. proration
    needs plan switching) are left to `apply_portal_patch`, per account.
    """
    decoded = decode_patch(patch)
    touched = overridden_paths(decoded)
    settings = effective_for(PortalSettingsPatch(), decoded, _PLACEHOLDER_NAME).settings
    own = [
        issue
        for issue in validate(settings)
        if issue.code not in _DEPENDENT_CODES
        and any(
            issue.param == path or issue.param.startswith((f"{path}.", f"{path}["))
            for path in touched
        )
    ]
    _raise_first(own)
