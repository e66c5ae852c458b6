"""Drift: what Stripe holds for an account's branding against what the service last wrote.

Stripe is refetched on every check (a webhook payload is only a trigger), and
the answer is recorded on the branding row so the API and console can show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts_service
from platform_service.accounts import stripe_api
from platform_service.auth import audit
from platform_service.branding.models import AccountBranding
from platform_service.branding.schemas import DriftReport
from platform_service.branding.service import default_values, own_fields
from platform_service.branding.writeplan import (
    STRIPE_BRANDING_FIELDS,
    STRIPE_FIELDS,
    BrandingDict,
    same_value,
    stripe_targets,
)
from platform_service.db.base import utcnow
from platform_service.stripe.gateway import StripeGateway


def stripe_view(data: Mapping[str, Any]) -> BrandingDict:
    """Stripe's account object reduced to our field names."""
    branding = (data.get("settings") or {}).get("branding") or {}
    view: BrandingDict = {
        "display_name": (data.get("business_profile") or {}).get("name"),
    }
    for name, stripe_name in STRIPE_BRANDING_FIELDS.items():
        value = branding.get(stripe_name)
        view[name] = value.get("id") if isinstance(value, dict) else value
    return view


def compare(expected: Mapping[str, Any], stripe: Mapping[str, Any]) -> dict[str, Any]:
    """Fields the service wrote that Stripe now holds differently."""
    return {
        name: {"expected": value, "stripe": stripe.get(name)}
        for name, value in expected.items()
        if name in STRIPE_FIELDS and not same_value(name, value, stripe.get(name))
    }


async def check_drift(
    session: AsyncSession, gateway: StripeGateway, account_id: str, *, actor: str
) -> DriftReport:
    """Refetch the account and compare its branding with the last write; record the answer."""
    # The account row lock waits for an in-flight branding write to commit, so a
    # check never compares Stripe's new values against the previous write.
    account = await accounts_service.lock_account_for_write(session, account_id)
    data = await stripe_api.retrieve(gateway, accounts_service.api_of(account), account_id)
    row = await session.get(AccountBranding, account_id, populate_existing=True)
    now = utcnow()
    stripe = stripe_view(data)
    expected = dict(row.stripe_written) if row is not None and row.stripe_written else None
    fields = compare(expected, stripe) if expected is not None else {}
    pending: list[str] = []
    if row is not None:
        targets = stripe_targets(own_fields(row), await default_values(session))
        last = expected or {}
        pending = [
            name
            for name in STRIPE_FIELDS
            if targets.get(name) is not None and not same_value(name, targets[name], last.get(name))
        ]
        await record_drift(session, row, fields, now=now, actor=actor)
    return DriftReport(
        account_id=account_id,
        in_sync=not fields,
        expected=expected,
        stripe=stripe,
        fields=fields,
        pending=pending,
        detected_at=row.drift_detected_at if row is not None else None,
        checked_at=now,
    )


async def record_drift(
    session: AsyncSession,
    row: AccountBranding,
    fields: dict[str, Any],
    *,
    now: datetime,
    actor: str,
) -> None:
    """Store what drifted (keeping the first detection time while it persists); audit changes."""
    previous = dict(row.drift_fields or {})
    row.drift_checked_at = now
    if fields == previous:
        return
    row.drift_fields = fields
    if not fields:
        row.drift_detected_at = None
    elif not previous:
        row.drift_detected_at = now
    await audit.record(
        session,
        actor=actor,
        action="branding.drift_detected" if fields else "branding.drift_cleared",
        account_id=row.account_id,
        before={"drift": previous} if previous else None,
        after={"drift": fields} if fields else None,
    )
