"""What the portal domain does with Stripe events (the webhooks inbox calls these).

`billing_portal.configuration.created|updated`: refetch the configuration and
compare it with what the service compiled for it. A difference means someone
changed it outside the service (the API directly, another integration): the
accounts using it are marked out of sync and a sync is enqueued, which puts
the service's settings back.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.jobs.context import JobContext
from platform_service.portal.models import PLATFORM, AccountPortalSettings, PortalConfiguration
from platform_service.portal.sync import stripe_account_header
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError

logger = logging.getLogger(__name__)


async def on_portal_configuration_changed(
    session: AsyncSession, ctx: JobContext, event: dict[str, Any]
) -> None:
    """Notice drift: a configuration the service owns no longer holds what it compiled."""
    obj = (event.get("data") or {}).get("object") or {}
    config_id = obj.get("id")
    if not config_id:
        return
    home = str(event.get("account") or PLATFORM)
    known = await session.scalar(
        select(PortalConfiguration).where(
            PortalConfiguration.stripe_account == home,
            PortalConfiguration.configuration_id == str(config_id),
        )
    )
    if known is None:
        return  # not one of ours (a Dashboard default, another integration's)
    try:
        # Events arrive late and out of order: judge the configuration as it is now.
        live = await ctx["gateway"].retrieve_portal_configuration(
            str(config_id), stripe_account=stripe_account_header(home)
        )
    except StripeGatewayError as exc:
        if exc.kind is StripeErrorKind.RESOURCE_MISSING:
            live = {}
        else:
            raise
    rows = list(
        await session.scalars(
            select(AccountPortalSettings)
            .where(
                AccountPortalSettings.configuration_id == str(config_id),
                AccountPortalSettings.stripe_account == home,
            )
            .with_for_update()
        )
    )
    differences = configuration_matches(known.compiled, live)
    # Inactive is drift only while an account still uses it: the service itself
    # retires a configuration every account has left (`sync`), and may reuse it later.
    if live and not live.get("active", True) and rows:
        differences.append("active")
    if not differences:
        return
    logger.warning(
        "portal configuration %s on %s changed outside the service: %s",
        config_id,
        home,
        ", ".join(differences[:10]),
    )
    # The configuration no longer holds its hash's content: take it off that
    # hash so the re-sync rewrites it (or, when shared, makes one new copy).
    known.content_hash = f"drift-{config_id}"[:64]
    for row in rows:
        row.sync_status = "out_of_sync"
        row.sync_error = (
            f"drift: configuration {config_id} was changed outside the service "
            f"({', '.join(differences[:5])})"
        )
        ctx["after_commit"].enqueue(session, "sync_portal_settings", row.account_id)


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
