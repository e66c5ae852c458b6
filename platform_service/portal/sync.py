"""Put an account's saved portal settings version on Stripe, sharing identical configurations.

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

Idempotency keys: a write is unique per (configuration or Stripe account,
content hash, account, settings version), plus the caller's key when a bulk job
passes one. The version number matters: a configuration updated from A to B
and back to A within Stripe's 24-hour key window must not replay the old write.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import ConnectedAccount
from platform_service.branding.rules import BrandingValues, resolve_branding
from platform_service.db.base import utcnow
from platform_service.portal.compile import compile_configuration_update
from platform_service.portal.document import PortalSettings
from platform_service.portal.models import (
    PLATFORM,
    AccountPortalSettings,
    PortalConfiguration,
    PortalSettingsVersion,
)
from platform_service.stripe.gateway import (
    PortalConfigurationCreateParams,
    PortalConfigurationUpdateParams,
    StripeGateway,
)
from platform_service.stripe.idempotency import idempotency_key

HASH_KEY = "platform_portal_hash"
ACCOUNT_KEY = "platform_account_id"


def configuration_home(account: ConnectedAccount) -> str:
    """Where the account's configuration lives: its own id (direct charges) or "platform"."""
    resolved = resolve_branding(
        account_id=account.id,
        charge_model=ChargeModel(account.charge_model),
        account=BrandingValues(),
        platform=BrandingValues(),
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
    configuration stays current; the caller records the failure.
    """
    home = version.stripe_account
    header = stripe_account_header(home)
    digest = version.content_hash
    metadata = {HASH_KEY: digest, ACCOUNT_KEY: row.account_id}
    shared = await session.scalar(
        select(PortalConfiguration).where(
            PortalConfiguration.stripe_account == home,
            PortalConfiguration.content_hash == digest,
        )
    )
    if shared is not None:
        config_id = shared.configuration_id
    else:
        current = row.configuration_id if row.stripe_account == home else None
        others = 0
        if current is not None:
            others = (
                await session.scalar(
                    select(func.count())
                    .select_from(AccountPortalSettings)
                    .where(
                        AccountPortalSettings.configuration_id == current,
                        AccountPortalSettings.stripe_account == home,
                        AccountPortalSettings.account_id != row.account_id,
                    )
                )
                or 0
            )
        if current is not None and others == 0:
            settings = msgspec.convert(version.document, PortalSettings)
            update: dict[str, Any] = compile_configuration_update(settings)
            update["metadata"] = metadata
            update["active"] = True
            await gateway.update_portal_configuration(
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
            config_id = str(created["id"])
            config_id = await _remember(session, home, digest, config_id, version.compiled)
    row.configuration_id = config_id
    row.stripe_account = home
    row.content_hash = digest
    row.live_version = version.version
    row.sync_status = "in_sync" if row.version == version.version else "pending"
    row.sync_error = None
    row.synced_at = utcnow()
    version.configuration_id = config_id
    return config_id


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


def configuration_matches(compiled: Any, live: Any) -> list[str]:
    """Paths where Stripe's configuration differs from what the service compiled.

    Only what the service sends is compared (Stripe fills in more); `""` (the
    API's "unset") matches null and empty lists.
    """
    problems: list[str] = []
    _compare(compiled, live, "", problems)
    return problems


def _empty(value: Any) -> bool:
    return value in ("", None, [], {})


def _compare(sent: Any, live: Any, path: str, problems: list[str]) -> None:
    if isinstance(sent, dict):
        if not isinstance(live, dict):
            problems.append(path or "$")
            return
        for key, value in sent.items():
            _compare(value, live.get(key), f"{path}.{key}" if path else key, problems)
    elif isinstance(sent, list):
        if not isinstance(live, list) or len(sent) != len(live):
            if not (_empty(sent) and _empty(live)):
                problems.append(path)
            return
        for i, (a, b) in enumerate(zip(sent, live, strict=True)):
            _compare(a, b, f"{path}[{i}]", problems)
    elif _empty(sent) and _empty(live):
        return
    elif sent != live:
        problems.append(path)
