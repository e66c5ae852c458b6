"""Which domain handlers run for which Stripe event type.

Handlers live in the domains and know nothing of the inbox: each gets the job's
session (its writes commit together with the event's `processed` stamp), the
job's `ctx` (for `ctx["gateway"]`, `ctx["after_commit"]`) and the stored event
payload. Stripe delivers at least once and out of order, so a handler must be
safe to run twice and on a stale event; refetching the object from Stripe is
the usual way. A thin (v2) event's payload is its notification, which carries
no data: its handler always fetches the event and the object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.events import (
    on_account_deauthorized,
    on_account_updated,
    on_capability_updated,
    on_v2_account_event,
)
from platform_service.branding.events import (
    on_account_updated_branding,
    on_platform_account_updated,
    on_v2_account_branding,
)
from platform_service.jobs.context import JobContext
from platform_service.portal.events import on_portal_configuration_changed

Handler = Callable[[AsyncSession, JobContext, dict[str, Any]], Awaitable[None]]

# Thin events about an Accounts v2 account (stripe/events/_v2_core_account*.py): each
# one refetches the account, so one handler serves them all.
V2_ACCOUNT_EVENTS = (
    "v2.core.account.created",
    "v2.core.account.updated",
    "v2.core.account.closed",
    "v2.core.account[configuration.merchant].updated",
    "v2.core.account[configuration.recipient].updated",
    "v2.core.account[configuration.customer].updated",
    "v2.core.account[configuration.merchant].capability_status_updated",
    "v2.core.account[configuration.recipient].capability_status_updated",
    "v2.core.account[configuration.customer].capability_status_updated",
    "v2.core.account[requirements].updated",
    "v2.core.account[identity].updated",
    "v2.core.account[defaults].updated",
    "v2.core.account_link.returned",
)

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
    **{event_type: [on_v2_account_event] for event_type in V2_ACCOUNT_EVENTS},
    # Branding lives in the merchant configuration on v2: drift is checked there.
    "v2.core.account[configuration.merchant].updated": [
        on_v2_account_event,
        on_v2_account_branding,
    ],
}


def handlers_for(event_type: str) -> list[Handler]:
    """The handlers for `event_type`, in the order they run (empty: the type is unhandled)."""
    return list(HANDLERS.get(event_type, ()))
