"""Which domain handlers run for which Stripe event type.

Handlers live in the domains and know nothing of the inbox: each gets the job's
session (its writes commit together with the event's `processed` stamp), the
job's `ctx` (for `ctx["gateway"]`, `ctx["after_commit"]`) and the stored event
payload. Stripe delivers at least once and out of order, so a handler must be
safe to run twice and on a stale event; refetching the object from Stripe is
the usual way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.events import (
    on_account_deauthorized,
    on_account_updated,
    on_capability_updated,
)
from platform_service.branding.events import (
    on_account_updated_branding,
    on_platform_account_updated,
)
from platform_service.jobs.context import JobContext
from platform_service.portal.events import on_portal_configuration_changed

Handler = Callable[[AsyncSession, JobContext, dict[str, Any]], Awaitable[None]]

# Read at processing time (never captured at import), so tests can add handlers
# with `monkeypatch.setitem(HANDLERS, ...)`.
HANDLERS: dict[str, list[Handler]] = {
    "account.updated": [
        on_account_updated,
        on_account_updated_branding,
        on_platform_account_updated,
    ],
    "account.application.deauthorized": [on_account_deauthorized],
    "capability.updated": [on_capability_updated],
    "billing_portal.configuration.created": [on_portal_configuration_changed],
    "billing_portal.configuration.updated": [on_portal_configuration_changed],
}


def handlers_for(event_type: str) -> list[Handler]:
    """The handlers for `event_type`, in the order they run (empty: the type is unhandled)."""
    return list(HANDLERS.get(event_type, ()))
