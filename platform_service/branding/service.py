"""Branding: the platform's defaults, each account's own branding, the effective result.

An account's branding is stored here and written to its Stripe settings in
the same request (`writeplan` says what is sent); the effective branding, the
one thing portal sessions, previews and `/branding/effective` show, is
`resolve_branding` over both. Patches are checked in `patches`, files live in
`files`, drift checks in `drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts_service
from platform_service.accounts import stripe_api
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import ConnectedAccount
from platform_service.auth import audit
from platform_service.branding import platform
from platform_service.branding.files import check_file_ids
from platform_service.branding.models import (
    AccountBranding,
    PlatformBranding,
    PlatformStripeBranding,
)
from platform_service.branding.patches import normalise_patch
from platform_service.branding.rules import (
    BRANDING_FIELDS,
    BrandingValues,
    ResolvedBranding,
    resolve_branding,
)
from platform_service.branding.schemas import (
    AccountBrandingOut,
    BrandingFields,
    Drift,
    PlatformBrandingOut,
    PlatformOnStripe,
    StripeWrite,
)
from platform_service.branding.writeplan import BrandingDict, plan_write, stripe_targets, write_key
from platform_service.db.base import utcnow
from platform_service.db.lookup import get_or_create_for_update
from platform_service.stripe.gateway import StripeGateway


class BrandingApplyResult(msgspec.Struct, kw_only=True):
    """What applying a branding patch did (or, on a dry run, would do).

    `diff` holds the account's own fields that change, each as
    `{"before": ..., "after": ...}`; `stripe_write` says whether Stripe is (or
    would be) written, which can happen with an empty diff when the platform
    defaults the account inherits moved since the last write.
    """

    changed: bool
    diff: dict[str, dict[str, Any]]
    stripe_write: bool = False
    version: int | None = None
    idempotency_key: str | None = None


# -- values -------------------------------------------------------------------


def own_fields(row: AccountBranding | PlatformBranding | None) -> BrandingDict:
    """Every branding field the row holds (all None without a row)."""
    return {name: getattr(row, name) if row is not None else None for name in BRANDING_FIELDS}


def _values(fields: Mapping[str, Any]) -> BrandingValues:
    return BrandingValues(**{name: fields.get(name) for name in BRANDING_FIELDS})


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def fields_out(fields: Mapping[str, Any]) -> BrandingFields:
    """The set fields, as the API shows them."""
    return msgspec.convert(
        {k: v for k, v in fields.items() if v is not None and k in BRANDING_FIELDS},
        BrandingFields,
    )


# -- platform defaults ----------------------------------------------------------


async def get_platform_row(session: AsyncSession) -> PlatformBranding | None:
    """The platform's branding row (None until first set)."""
    return await session.get(PlatformBranding, 1)


async def default_values(session: AsyncSession) -> BrandingValues:
    """The service's platform defaults, which accounts inherit (all unset when never set)."""
    return _values(own_fields(await get_platform_row(session)))


def platform_out(
    row: PlatformBranding | None, stripe_row: PlatformStripeBranding | None
) -> PlatformBrandingOut:
    """The platform's defaults and its branding on Stripe, as the API shows them."""
    stripe = None
    values = platform.values(stripe_row)
    if stripe_row is not None and values is not None:
        stripe = PlatformOnStripe(
            account_id=stripe_row.account_id,
            branding=fields_out(msgspec.structs.asdict(values)),
            fetched_at=stripe_row.fetched_at,
        )
    if row is None:
        return PlatformBrandingOut(branding=BrandingFields(), stripe=stripe)
    return PlatformBrandingOut(
        branding=fields_out(own_fields(row)),
        version=row.version,
        updated_at=row.updated_at,
        stripe=stripe,
    )


async def put_platform_branding(
    session: AsyncSession, values: Mapping[str, Any], *, actor: str
) -> PlatformBranding:
    """Replace the platform defaults (stored only: the platform's own Stripe branding
    is set in its Dashboard). Accounts pick them up on their next write."""
    fields = normalise_patch({name: values.get(name) for name in BRANDING_FIELDS})
    await check_file_ids(session, fields)
    row = await get_or_create_for_update(
        session, PlatformBranding, 1, lambda: PlatformBranding(id=1, version=0)
    )
    before = own_fields(row)
    if before == fields:
        return row
    for name, value in fields.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_by = actor
    row.updated_at = utcnow()
    await audit.record(
        session,
        actor=actor,
        action="platform_branding.updated",
        account_id=None,
        before=_compact(before),
        after=_compact(fields),
    )
    return row


# -- account branding and the effective result --------------------------------------


def account_values(account: ConnectedAccount, own: BrandingDict) -> BrandingValues:
    """The account's own branding (`own_fields`) as `resolve_branding` takes it.

    With no display name of its own, the account is still known to its
    customers by the business name Stripe holds, so that stands in.
    """
    own = dict(own)
    if own["display_name"] is None and account.business_name and account.business_name.strip():
        own["display_name"] = account.business_name
    return _values(own)


async def effective_branding_for(
    session: AsyncSession, account: ConnectedAccount, *, draft: Mapping[str, Any] | None = None
) -> ResolvedBranding:
    """`resolve_branding` for an already loaded account, over the stored defaults and the
    platform's branding as last read from Stripe.

    `draft` (checked fields, e.g. a console editor's unsaved values; None unsets one)
    replaces the account's own values first: the same resolution, nothing written.
    """
    row = await session.get(AccountBranding, account.id)
    own = own_fields(row)
    if draft:
        own.update(draft)
    return resolve_branding(
        account_id=account.id,
        charge_model=ChargeModel(account.charge_model),
        account=account_values(account, own),
        defaults=await default_values(session),
        platform=await platform.stripe_values(session),
    )


class ShownName(NamedTuple):
    """The business name an account's portal shows, and whose it is."""

    name: str | None
    source: Literal["account_profile", "platform_profile"]
    whose: str


async def shown_name(session: AsyncSession, account: ConnectedAccount) -> ShownName:
    """The name on the account's portal: the business name of the account whose branding
    it shows (the seller's, or the platform's for platform-source charge models)."""
    resolved = await effective_branding_for(session, account)
    if resolved.source == "connected_account":
        name = resolved.branding.display_name or account.business_name
        return ShownName(name, "account_profile", "the account's business name")
    return ShownName(
        resolved.branding.display_name, "platform_profile", "the platform's business name"
    )


async def effective_branding(session: AsyncSession, account_id: str) -> ResolvedBranding:
    """`resolve_branding` for the account as stored now (404 for no account)."""
    account = await accounts_service.get_account(session, account_id)
    return await effective_branding_for(session, account)


def account_branding_out(account_id: str, row: AccountBranding | None) -> AccountBrandingOut:
    """An account's own branding, last Stripe write and drift, as the API shows them."""
    if row is None:
        return AccountBrandingOut(
            account_id=account_id, branding=BrandingFields(), drift=Drift(detected=False, fields={})
        )
    last_write = None
    if (
        row.stripe_written is not None
        and row.stripe_written_at is not None
        and row.stripe_idempotency_key is not None
    ):
        last_write = StripeWrite(
            version=row.stripe_written_version or 0,
            idempotency_key=row.stripe_idempotency_key,
            written_at=row.stripe_written_at,
            values=dict(row.stripe_written),
        )
    return AccountBrandingOut(
        account_id=account_id,
        branding=fields_out(own_fields(row)),
        version=row.version,
        last_write=last_write,
        drift=Drift(
            detected=bool(row.drift_fields),
            fields=dict(row.drift_fields or {}),
            detected_at=row.drift_detected_at,
            checked_at=row.drift_checked_at,
        ),
        updated_at=row.updated_at,
    )


async def get_account_branding(session: AsyncSession, account_id: str) -> AccountBranding | None:
    """The account's branding row, or None when nothing was ever set (404 for no account)."""
    await accounts_service.get_account(session, account_id)
    return await session.get(AccountBranding, account_id)


async def _apply(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    values: BrandingDict,
    *,
    replace: bool,
    idempotency_key: str | None,
    actor: str,
    dry_run: bool,
) -> tuple[BrandingApplyResult, AccountBranding | None]:
    # Lock the account first: concurrent edits of one account then apply one
    # after the other, each to the branding the previous one committed.
    if dry_run:
        account = await accounts_service.get_account(session, account_id)
    else:
        account = await accounts_service.lock_account_for_write(session, account_id)
    row = await session.get(AccountBranding, account_id, populate_existing=True)
    before = own_fields(row)
    new_own = dict(values) if replace else {**before, **values}
    await check_file_ids(
        session, {n: new_own[n] for n in ("logo", "icon") if new_own[n] != before[n]}
    )
    diff = {
        name: {"before": before[name], "after": new_own[name]}
        for name in BRANDING_FIELDS
        if before[name] != new_own[name]
    }
    last = dict(row.stripe_written or {}) if row is not None else {}
    targets = stripe_targets(new_own, await default_values(session))
    params, written = plan_write(targets, last, account.business_name)
    result = BrandingApplyResult(changed=bool(diff) or params is not None, diff=diff)
    result.stripe_write = params is not None
    if dry_run or not result.changed:
        return result, row
    if row is None:
        row = AccountBranding(account_id=account_id, version=0, drift_fields={})
        session.add(row)
    row.version = (row.version or 0) + 1
    result.version = row.version
    if params is not None:
        key = idempotency_key or write_key(account_id, row.version, params)
        updated = await stripe_api.update(
            gateway, accounts_service.api_of(account), account_id, params, idempotency_key=key
        )
        accounts_service.apply_stripe_account(account, updated)
        row.stripe_written = written
        row.stripe_written_at = utcnow()
        row.stripe_written_version = row.version
        row.stripe_idempotency_key = key
        # The write just overwrote whatever was changed outside the service.
        row.drift_fields = {}
        row.drift_detected_at = None
        result.idempotency_key = key
    for name, value in new_own.items():
        setattr(row, name, value)
    row.updated_by = actor
    row.updated_at = utcnow()
    await audit.record(
        session,
        actor=actor,
        action="branding.updated",
        account_id=account_id,
        before={"branding": _compact(before)},
        after={
            "branding": _compact(new_own),
            "version": row.version,
            **({"stripe": written, "idempotency_key": result.idempotency_key} if params else {}),
        },
    )
    await session.flush()
    return result, row


async def apply_branding_patch(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    patch: dict[str, Any],
    *,
    idempotency_key: str,
    actor: str,
    dry_run: bool = False,
) -> BrandingApplyResult:
    """Validate and apply a PATCH-shaped dict to one account's branding (bulk jobs use this).

    Computes the diff against the account's own branding; unless `dry_run`,
    writes Stripe with `idempotency_key` when needed, stores and audits.
    Raises `ValidationFailed` (with `param`), `NotFound`, or `StripeGatewayError`.
    """
    result, _ = await _apply(
        session,
        gateway,
        account_id,
        normalise_patch(patch),
        replace=False,
        idempotency_key=idempotency_key,
        actor=actor,
        dry_run=dry_run,
    )
    return result


async def put_account_branding(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    values: Mapping[str, Any],
    *,
    actor: str,
) -> AccountBranding | None:
    """Replace the account's own branding and write it to Stripe (key from account+version)."""
    new_own = normalise_patch({name: values.get(name) for name in BRANDING_FIELDS})
    _, row = await _apply(
        session,
        gateway,
        account_id,
        new_own,
        replace=True,
        idempotency_key=None,
        actor=actor,
        dry_run=False,
    )
    return row


async def patch_account_branding(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    patch: Mapping[str, Any],
    *,
    actor: str,
) -> AccountBranding | None:
    """Change only the fields sent (null unsets), then write to Stripe if needed."""
    _, row = await _apply(
        session,
        gateway,
        account_id,
        normalise_patch(patch),
        replace=False,
        idempotency_key=None,
        actor=actor,
        dry_run=False,
    )
    return row
