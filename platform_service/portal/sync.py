"""Put an account's portal settings on Stripe, sharing identical configurations.

Where a configuration lives follows the session call shape, so there is one
rule for both: `resolve_branding`'s `call.stripe_account` (the connected account
for direct charges, the platform otherwise).

Reuse and update rules, per Stripe account ("platform" or `acct_…`):
- a configuration with the same content hash already exists: use it, no write;
- the account's current configuration serves no other account: update it in
  place (Stripe applies an update whole or not at all, so a failure leaves the
  previous settings live) and re-key its row to the new hash;
- otherwise create one, tagged with the hash (and the account it was made for;
  the table, not the metadata, knows every account that shares it).

A configuration an account leaves is retired (`active=false`) once no account
uses it any more, so superseded configurations stop serving sessions and their
login links. A retired one that identical settings later match again is
reactivated rather than copied. Both look at the configuration's row under a
row lock: a retirement skips a configuration another sync holds (it then just
stays active), so a sync moving onto a configuration never finds it retired
under its feet.

Idempotency keys: a write is unique per (configuration or Stripe account,
content hash, account, settings version), plus the caller's key when a bulk job
passes one. The version number matters: a configuration updated from A to B
and back to A within Stripe's 24-hour key window must not replay the old write.

A failed write is recorded on the account's row (`out_of_sync`, the error) and
the `StripeGatewayError` re-raised; nothing here commits, so a caller that must
keep that record runs in `kept_on(session_maker, StripeGatewayError)`.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import lock_account_for_write
from platform_service.branding.rules import BrandingValues, resolve_branding
from platform_service.branding.service import shown_name
from platform_service.db.base import utcnow
from platform_service.errors import ValidationFailed
from platform_service.portal.compile import compile_configuration_update
from platform_service.portal.document import PortalSettings, PortalSettingsPatch
from platform_service.portal.effective import as_patch, dump, effective_for
from platform_service.portal.models import (
    PLATFORM,
    AccountPortalSettings,
    PortalConfiguration,
    PortalSettingsVersion,
)
from platform_service.portal.validation import referenced_ids, validate
from platform_service.portal.versions import account_row, get_version, new_version
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import (
    PortalConfigurationCreateParams,
    PortalConfigurationUpdateParams,
    StripeGateway,
)
from platform_service.stripe.idempotency import idempotency_key

logger = logging.getLogger(__name__)

HASH_KEY = "platform_portal_hash"
ACCOUNT_KEY = "platform_account_id"


def configuration_home(account: ConnectedAccount) -> str:
    """Where the account's configuration lives: its own id (direct charges) or "platform"."""
    resolved = resolve_branding(
        account_id=account.id,
        charge_model=ChargeModel(account.charge_model),
        account=BrandingValues(),
        defaults=BrandingValues(),
        platform=None,
    )
    return resolved.call.stripe_account or PLATFORM


def stripe_account_header(home: str) -> str | None:
    """The `Stripe-Account` value for a configuration home (None on the platform)."""
    return None if home == PLATFORM else home


def _key(namespace: str, *parts: str | int | None) -> str:
    return idempotency_key(namespace, *(p for p in parts if p is not None))


async def push_version(
    session: AsyncSession,
    gateway: StripeGateway,
    row: AccountPortalSettings,
    version: PortalSettingsVersion,
    *,
    caller_key: str | None = None,
) -> str:
    """Make `version` live on Stripe and point `row` at its configuration; returns its id.

    Raises `StripeGatewayError` with `row` untouched, so the previous
    configuration stays current; `push` records the failure.
    """
    home = version.stripe_account
    header = stripe_account_header(home)
    digest = version.content_hash
    metadata = {HASH_KEY: digest, ACCOUNT_KEY: row.account_id}
    previous = (row.stripe_account, row.configuration_id)
    # Stripe's configuration object, when a write of this sync returned it.
    live: dict[str, Any] | None = None
    shared = await session.scalar(
        select(PortalConfiguration)
        .where(
            PortalConfiguration.stripe_account == home,
            PortalConfiguration.content_hash == digest,
        )
        # Shared: syncs moving onto one configuration don't wait for each other,
        # only a retirement of it waits, or skips it.
        .with_for_update(read=True)
    )
    if shared is not None:
        config_id = shared.configuration_id
        if previous != (home, config_id) and not await _users(
            session, home, config_id, besides=row.account_id
        ):
            # No account uses it: it was retired when its last one left.
            live = await gateway.update_portal_configuration(
                config_id,
                {"active": True},
                stripe_account=header,
                idempotency_key=_key(
                    "portal.configuration.activate",
                    config_id,
                    row.account_id,
                    version.version,
                    caller_key,
                ),
            )
    else:
        current = row.configuration_id if row.stripe_account == home else None
        others = 0
        if current is not None:
            # Held until commit: a sync that would move onto it waits, then finds
            # it re-keyed; one already on its way is counted below.
            await _lock(session, home, current)
            others = await _users(session, home, current, besides=row.account_id)
        if current is not None and others == 0:
            settings = msgspec.convert(version.document, PortalSettings)
            update: dict[str, Any] = compile_configuration_update(settings)
            update["metadata"] = metadata
            update["active"] = True
            live = await gateway.update_portal_configuration(
                current,
                cast(PortalConfigurationUpdateParams, update),
                stripe_account=header,
                idempotency_key=_key(
                    "portal.configuration.update",
                    current,
                    digest,
                    row.account_id,
                    version.version,
                    caller_key,
                ),
            )
            config_id = current
            await _rekey(session, home, config_id, digest, version.compiled)
        else:
            params: dict[str, Any] = {**version.compiled, "metadata": metadata}
            created = await gateway.create_portal_configuration(
                cast(PortalConfigurationCreateParams, params),
                stripe_account=header,
                idempotency_key=_key(
                    "portal.configuration.create",
                    home,
                    digest,
                    row.account_id,
                    version.version,
                    caller_key,
                ),
            )
            config_id = await _remember(session, home, digest, str(created["id"]), version.compiled)
            # A concurrent sync recorded its own copy first: ours is not the one used.
            live = created if config_id == created["id"] else None
    login_page_url = None
    if (version.compiled.get("login_page") or {}).get("enabled"):
        if previous == (home, config_id):
            login_page_url = row.login_page_url
        try:
            if live is None:
                live = await gateway.retrieve_portal_configuration(config_id, stripe_account=header)
            login_page_url = (live.get("login_page") or {}).get("url")
        except StripeGatewayError as exc:
            # The configuration is live either way; the link shows after the next sync.
            logger.warning("could not read the login page of %s: %s", config_id, exc.message)
    row.configuration_id = config_id
    row.login_page_url = login_page_url
    row.stripe_account = home
    row.content_hash = digest
    row.live_version = version.version
    row.sync_status = "in_sync" if row.version == version.version else "pending"
    row.sync_error = None
    row.synced_at = utcnow()
    version.configuration_id = config_id
    old_home, old_id = previous
    if old_home is not None and old_id is not None and previous != (home, config_id):
        await _retire_if_unused(
            session,
            gateway,
            old_home,
            old_id,
            leaving=row.account_id,
            key=_key(
                "portal.configuration.retire", old_id, row.account_id, version.version, caller_key
            ),
        )
    return config_id


async def _users(session: AsyncSession, home: str, config_id: str, *, besides: str) -> int:
    """How many accounts other than `besides` sessions open with this configuration."""
    count = await session.scalar(
        select(func.count())
        .select_from(AccountPortalSettings)
        .where(
            AccountPortalSettings.configuration_id == config_id,
            AccountPortalSettings.stripe_account == home,
            AccountPortalSettings.account_id != besides,
        )
    )
    return count or 0


async def _lock(session: AsyncSession, home: str, config_id: str) -> None:
    await session.execute(
        select(PortalConfiguration.seq)
        .where(
            PortalConfiguration.stripe_account == home,
            PortalConfiguration.configuration_id == config_id,
        )
        .with_for_update()
    )


async def _retire_if_unused(
    session: AsyncSession,
    gateway: StripeGateway,
    home: str,
    config_id: str,
    *,
    leaving: str,
    key: str,
) -> None:
    """Set a configuration the account just left `active=false` when no account uses it.

    Best effort: the account's move already happened on Stripe, so a failure
    here only leaves the old configuration active, as it always was.
    """
    known = await session.scalar(
        select(PortalConfiguration)
        .where(
            PortalConfiguration.stripe_account == home,
            PortalConfiguration.configuration_id == config_id,
        )
        .with_for_update(skip_locked=True)
    )
    # Unknown (not one the service recorded) or held by a sync moving onto it.
    if known is None:
        return
    if await _users(session, home, config_id, besides=leaving):
        return
    try:
        await gateway.update_portal_configuration(
            config_id,
            {"active": False},
            stripe_account=stripe_account_header(home),
            idempotency_key=key,
        )
    except StripeGatewayError as exc:
        logger.warning(
            "could not retire portal configuration %s on %s: %s", config_id, home, exc.message
        )


async def _rekey(
    session: AsyncSession, home: str, config_id: str, digest: str, compiled: dict[str, Any]
) -> None:
    row = await session.scalar(
        select(PortalConfiguration).where(
            PortalConfiguration.stripe_account == home,
            PortalConfiguration.configuration_id == config_id,
        )
    )
    if row is None:
        await _remember(session, home, digest, config_id, compiled)
        return
    row.content_hash = digest
    row.compiled = compiled


async def _remember(
    session: AsyncSession, home: str, digest: str, config_id: str, compiled: dict[str, Any]
) -> str:
    """Record a new configuration; if a concurrent sync recorded one first, use that one."""
    try:
        async with session.begin_nested():
            session.add(
                PortalConfiguration(
                    stripe_account=home,
                    content_hash=digest,
                    configuration_id=config_id,
                    compiled=compiled,
                )
            )
    except IntegrityError:
        winner = await session.scalar(
            select(PortalConfiguration.configuration_id).where(
                PortalConfiguration.stripe_account == home,
                PortalConfiguration.content_hash == digest,
            )
        )
        if winner is None:
            raise
        # The configuration we just made stays unused (Stripe has no delete);
        # identical settings keep converging on the recorded one.
        return winner
    return config_id


async def push(
    session: AsyncSession,
    gateway: StripeGateway,
    row: AccountPortalSettings,
    version: PortalSettingsVersion,
    *,
    caller_key: str | None = None,
) -> None:
    """`push_version`, recording a failure on `row` (`out_of_sync`, the error) before re-raising."""
    try:
        await push_version(session, gateway, row, version, caller_key=caller_key)
    except StripeGatewayError as exc:
        row.sync_status = "out_of_sync"
        row.sync_error = f"Stripe ({exc.kind.value}): {exc.message}"[:2000]
        raise


async def sync_account_portal(
    session: AsyncSession,
    gateway: StripeGateway,
    account: ConnectedAccount,
    platform: PortalSettingsPatch,
    *,
    actor: str,
    only_if_missing: bool = False,
) -> AccountPortalSettings:
    """Bring the account's configuration up to its effective document (platform changes too).

    With `only_if_missing`, does nothing when the account already has a
    configuration where its charge model needs it. A document that breaks a
    rule (e.g. after a platform change) is recorded as out of sync, not sent.
    """
    await lock_account_for_write(session, account.id)
    row = await account_row(session, account.id, lock=True)
    home = configuration_home(account)
    if only_if_missing and row.configuration_id is not None and row.stripe_account == home:
        return row
    shown = await shown_name(session, account)
    settings = effective_for(
        platform, as_patch(row.overrides), shown.name, name_source=shown.source
    ).settings
    latest = await get_version(session, account.id, row.version)
    if latest is None or latest.document != dump(settings) or latest.stripe_account != home:
        issues = validate(settings)
        if issues:
            row.sync_status = "out_of_sync"
            row.sync_error = f"{issues[0].param}: {issues[0].message}"
            return row
        latest = new_version(session, row, settings, home=home, actor=actor)
        await session.flush()
    if (
        row.configuration_id is None
        or row.live_version != latest.version
        or row.stripe_account != home
        or row.sync_status != "in_sync"
    ):
        await push(session, gateway, row, latest)
    return row


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
