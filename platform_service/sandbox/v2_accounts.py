"""Accounts v2 as a view of the one account record, and the thin events its changes cause.

A merchant or recipient account *is* its v1 account dict (`state.accounts()`), so v1
reads, `Stripe-Account` scoping, onboarding and the portal's branding keep working; the
v2-only facts (configurations, contact phone, closed, ...) live beside it in
`state.v2_accounts`. A customer-only account has a v1-shaped `base` too, but kept only
in its record, in the scope that created it: it is no connected account.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from platform_service.sandbox.errors import invalid_request, resource_missing
from platform_service.sandbox.state import SandboxState, new_id
from platform_service.sandbox.v2_view import SECTIONS, iso, view


def context_of(state: SandboxState, record: dict[str, Any]) -> str | None:
    """Events about the platform's own accounts have no context; the rest name the scope."""
    scope: str = record["scope"]
    return None if scope == state.platform_id else scope


def new_record(
    base: dict[str, Any], *, scope: str, applied: list[str], delay_s: float = 0.0
) -> dict[str, Any]:
    return {
        "id": base["id"],
        "scope": scope,
        "base": base,
        "applied": sorted(applied),
        "closed": False,
        "created": iso(base["created"]),
        "visible_at": time.time() + delay_s,
        "announced": False,
        "contact_phone": None,
        "identity": {},
        "defaults": {"locales": [], "doing_business_as": None},
        "configs": {"customer": {}, "merchant": {}, "recipient": {}},
        "last_view": None,
    }


def register(
    state: SandboxState,
    base: dict[str, Any],
    *,
    scope: str,
    applied: list[str],
    delay_s: float = 0.0,
) -> dict[str, Any]:
    """Make `base` an Accounts v2 account, visible to /v2 after `delay_s` seconds."""
    record = new_record(base, scope=scope, applied=applied, delay_s=delay_s)
    state.v2_accounts[base["id"]] = record
    if delay_s <= 0:
        announce(state, record)
        return record
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return record  # announced when first read
    loop.call_later(delay_s, _announce_if_current, state, record)
    return record


def _announce_if_current(state: SandboxState, record: dict[str, Any]) -> None:
    if state.v2_accounts.get(record["id"]) is record:
        announce(state, record, reason=None)


def announce(
    state: SandboxState, record: dict[str, Any], *, reason: dict[str, Any] | bool | None = True
) -> None:
    """Emit `v2.core.account.created` once, when the account becomes visible to /v2."""
    if record["announced"]:
        return
    record["announced"] = True
    record["last_view"] = view(record, SECTIONS)
    emit(state, "v2.core.account.created", record, reason=reason)


def find(state: SandboxState, account_id: str, scope: str) -> dict[str, Any]:
    """The record /v2 may see from `scope`, or the 404 Stripe answers."""
    record = state.v2_accounts.get(account_id)
    if record is None or record["scope"] != scope or time.time() < record["visible_at"]:
        raise resource_missing("account", account_id, param=None)
    if account_id in state.deauthorized:
        raise resource_missing("account", account_id, param=None)
    announce(state, record)
    return record


def customer_account(state: SandboxState, account_id: str, scope: str) -> dict[str, Any] | None:
    """A customer-configured account usable as `customer_account` in `scope`, if any."""
    record = state.v2_accounts.get(account_id)
    if (
        record is None
        or record["scope"] != scope
        or "customer" not in record["applied"]
        or record["closed"]
        or time.time() < record["visible_at"]
    ):
        return None
    return record


def require_customer(state: SandboxState, scope: str, params: dict[str, Any]) -> tuple[Any, Any]:
    """`(customer, customer_account)` of a request that names exactly one, existing in
    `scope`: a Customer, or a customer-configured Account (Stripe's 400 / 404 otherwise)."""
    customer = params.get("customer")
    account = params.get("customer_account")
    if bool(customer) == bool(account):
        raise invalid_request(
            "Pass exactly one of customer (a Customer) or customer_account (an Account "
            "configured as a customer).",
            param="customer",
            code="parameter_missing" if not customer else "parameter_invalid",
        )
    if customer:
        if state.scope_for(scope).get("customers", customer) is None:
            raise resource_missing("customer", customer, param="customer")
    elif customer_account(state, str(account), scope) is None:
        # Only a customer-configured Account of the scope the request acts in.
        raise resource_missing("account", str(account), param="customer_account")
    return customer, account


# -- thin events -----------------------------------------------------------------------


def request_reason(state: SandboxState) -> dict[str, Any] | None:
    if state.current_request is None:
        return None
    request_id, key = state.current_request
    return {"type": "request", "request": {"id": request_id, "idempotency_key": key}}


# As in the SDK's event classes: a returned account link names its account in
# `data.account_id`, and has no related object to fetch.
EVENTS_WITHOUT_RELATED_OBJECT = frozenset({"v2.core.account_link.returned"})


def emit(
    state: SandboxState,
    event_type: str,
    record: dict[str, Any],
    *,
    reason: dict[str, Any] | bool | None = True,
    changes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a thin event (`GET /v2/core/events/{id}`) and hand it to the destinations.

    `reason=True` means "the request being served, if any".
    """
    event: dict[str, Any] = {
        "id": new_id("evt_test_", 24),
        "object": "v2.core.event",
        "type": event_type,
        "created": iso(time.time()),
        "context": context_of(state, record),
        "livemode": False,
        "reason": request_reason(state) if reason is True else reason,
    }
    if event_type not in EVENTS_WITHOUT_RELATED_OBJECT:
        event["related_object"] = {
            "id": record["id"],
            "type": "v2.core.account",
            "url": f"/v2/core/accounts/{record['id']}",
        }
    if changes is not None:
        event["changes"] = changes
    if data is not None:
        event["data"] = data
    state.v2_events[event["id"]] = event
    for listener in state.v2_listeners:
        listener(event)
    return event


def sync(state: SandboxState, record: dict[str, Any]) -> None:
    """Emit the thin events for whatever changed in the v2 view since it was last seen."""
    if not record["announced"]:
        return
    before = record["last_view"] or {}
    after = view(record, SECTIONS)
    record["last_view"] = after
    changed = [k for k in after if before.get(k) != after.get(k)]
    if not changed:
        return
    changes = {"before": {k: before.get(k) for k in changed},
               "after": {k: after.get(k) for k in changed}}  # fmt: skip
    emit(state, "v2.core.account.updated", record, changes=changes)
    for section in SECTIONS:
        head, _, sub = section.partition(".")
        old, new = before.get(head), after.get(head)
        if sub:
            old, new = (old or {}).get(sub), (new or {}).get(sub)
        if old != new:
            emit(state, f"v2.core.account[{section}].updated", record)


def on_v1_event(state: SandboxState, event: dict[str, Any]) -> None:
    """v1 writes to an account (updates, onboarding, capabilities) show in its v2 view."""
    if event["type"] != "account.updated":
        return
    record = state.v2_accounts.get(event["data"]["object"]["id"])
    if record is not None:
        sync(state, record)
