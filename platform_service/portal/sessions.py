"""Portal sessions: the call shape from `resolve_branding`, the account's configuration, no open redirect.

A session URL is a bearer credential: it is returned (or redirected to) at
once and never stored or logged; the audit log records that a session was
opened, for which customer and flow, by whom.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, cast

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import get_account
from platform_service.auth import audit
from platform_service.branding.service import effective_branding_for
from platform_service.errors import Conflict, NotFound, ValidationFailed
from platform_service.portal.compile import cancel_flow_retention
from platform_service.portal.document import PortalSettings
from platform_service.portal.effective import platform_document, platform_patch
from platform_service.portal.models import AccountPortalSettings
from platform_service.portal.schemas import (
    PortalSessionCreate,
    PortalSessionOut,
    RedirectAfter,
    SubscriptionCancelFlow,
)
from platform_service.portal.sync import ACCOUNT_KEY, configuration_home, sync_account_portal
from platform_service.portal.versions import find_row, live_settings
from platform_service.stripe.errors import StripeErrorKind
from platform_service.stripe.gateway import (
    PortalSessionCreateParams,
    StripeGateway,
    StripeGatewayError,
)
from platform_service.stripe.idempotency import idempotency_key
from platform_service.urls import check_url, url_host


def allowed_return_hosts(
    configured: Iterable[str], account_settings: PortalSettings, platform_settings: PortalSettings
) -> set[str]:
    """Hosts a session may send the customer back to (no open redirect through the service)."""
    hosts = {h.lower() for h in configured}
    for settings in (account_settings, platform_settings):
        url = settings.customisation.default_return_url
        host = url_host(url) if url else None
        if host:
            hosts.add(host.lower())
    return hosts


def _check_return_url(url: str, param: str, hosts: set[str]) -> None:
    problem = check_url(url)
    if problem is not None:
        raise ValidationFailed(f"{param}: {problem[1]}", code=problem[0], param=param)
    host = (url_host(url) or "").lower()
    if host not in hosts:
        allowed = ", ".join(sorted(hosts)) or "none configured"
        raise ValidationFailed(
            f"{param} host {host!r} is not an allowed return host (allowed: {allowed}); "
            "set it as the default return URL or add it to PLATFORM_ALLOWED_RETURN_HOSTS.",
            code="return_url_not_allowed",
            param=param,
        )


def _unavailable_reasons(account: ConnectedAccount, row: AccountPortalSettings) -> list[str]:
    reasons: list[str] = []
    if account.disconnected_at is not None:
        reasons.append("the account is disconnected from the platform")
    if not account.details_submitted:
        reasons.append("onboarding is not complete (details not submitted)")
    if not account.charges_enabled:
        reasons.append("charges are not enabled on the account")
    if row.sync_status == "out_of_sync":
        reasons.append(f"portal settings are out of sync with Stripe ({row.sync_error})")
    return reasons


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _check_flow_enabled(data: PortalSessionCreate, settings: PortalSettings) -> None:
    """A deep link into a task the account's portal does not offer fails at Stripe; say why here."""
    if data.flow is None:
        return
    kind = data.flow.__struct_config__.tag
    sm = settings.subscription_management
    missing: str | None = None
    if kind == "subscription_cancel" and not settings.cancellations.cancel_subscriptions:
        missing = "cancellations.cancel_subscriptions is off"
    elif kind in ("subscription_update", "subscription_update_confirm") and not (
        sm.switch_plans or sm.update_quantities
    ):
        missing = "neither subscription_management.switch_plans nor update_quantities is on"
    elif kind == "subscription_pause" and not sm.pause_subscriptions:
        missing = "subscription_management.pause_subscriptions is off"
    elif kind == "payment_method_update" and not settings.customer_billing.payment_methods:
        missing = "customer_billing.payment_methods is off"
    elif kind == "customer_update" and not settings.customer_billing.billing_information:
        missing = "customer_billing.billing_information is off"
    if missing is not None:
        raise ValidationFailed(
            f"A {kind} flow needs that feature in the account's portal, but {missing}.",
            code="flow_not_enabled",
            param="flow.type",
        )


def _check_customer(data: PortalSessionCreate) -> None:
    """Stripe takes the customer as a v1 Customer or as a v2 Account, never both."""
    if (data.customer is None) == (data.customer_account is None):
        given = "both were given" if data.customer is not None else "neither was given"
        raise ValidationFailed(
            f"Give exactly one of customer (cus_…) and customer_account (acct_…); {given}.",
            code="parameter_missing" if data.customer is None else "parameter_invalid",
            param="customer" if data.customer is None else "customer_account",
        )
    if data.customer_account is not None and not data.customer_account.startswith("acct_"):
        raise ValidationFailed(
            f"customer_account {data.customer_account[:80]!r} is not an account id (acct_…); "
            "a Customer (cus_…) goes in customer.",
            param="customer_account",
        )


def _after_expiration(data: PortalSessionCreate, now: int) -> dict[str, Any] | None:
    after = data.after_expiration
    if after is None:
        return None
    out: dict[str, Any] = {"type": after.type}
    login = after.customer_login
    if login is not None and login.expires_at is not None:
        if login.expires_at <= now:
            raise ValidationFailed(
                f"after_expiration.customer_login.expires_at {login.expires_at} is not in the "
                "future; leave it out for recovery without a deadline.",
                param="after_expiration.customer_login.expires_at",
            )
        out["customer_login"] = {"expires_at": login.expires_at}
    return out


def _flow_data(data: PortalSessionCreate, settings: PortalSettings) -> dict[str, Any] | None:
    if data.flow is None:
        return None
    flow: dict[str, Any] = _without_nulls(msgspec.to_builtins(data.flow))
    kind = flow.pop("type")
    after = flow.pop("after_completion", None)
    out: dict[str, Any] = {"type": kind}
    if after is not None:
        after_kind = after.pop("type")
        out["after_completion"] = {"type": after_kind}
        if after:
            out["after_completion"][after_kind] = after
    if flow:
        out[kind] = flow
    if isinstance(data.flow, SubscriptionCancelFlow):
        retention = cancel_flow_retention(settings)
        if retention is not None:
            out[kind]["retention"] = retention
    return out


async def check_sellers_customer(
    gateway: StripeGateway, account_id: str, customer: str | None, customer_account: str | None
) -> None:
    """Refuse (404, like another seller's account) a platform customer not the seller's.

    For direct charges the session is made as the account, where Stripe finds only
    its own customers. Otherwise customers live on the platform, shared by every
    seller, so a seller key may open one only for a customer that is visibly theirs:
    tagged `metadata.platform_account_id` with the seller's id by the platform, or
    with a subscription carrying the seller as `on_behalf_of` or transfer destination.
    A customer that is an Accounts v2 Account (`customer_account`) is checked the same way.
    """
    customer_id = customer or customer_account
    assert customer_id is not None  # _check_customer made sure of one
    param = "customer" if customer is not None else "customer_account"
    missing = NotFound(f"No such customer for this account: '{customer_id}'", param=param)
    try:
        if customer is not None:
            found = await gateway.retrieve_customer(customer, stripe_account=None)
        else:
            # An Accounts v2 customer: an Account with the customer configuration.
            found = await gateway.retrieve_account_v2(
                customer_id, include=("configuration.customer",)
            )
            if not (found.get("configuration") or {}).get("customer"):
                raise missing
    except StripeGatewayError as exc:
        if exc.kind is StripeErrorKind.RESOURCE_MISSING:
            raise missing from None
        raise
    if found.get("deleted") or found.get("closed"):
        raise missing
    if (found.get("metadata") or {}).get(ACCOUNT_KEY) == account_id:
        return
    for sub in await gateway.list_customer_subscriptions(customer_id, stripe_account=None):
        destination = (sub.get("transfer_data") or {}).get("destination")
        if account_id in (sub.get("on_behalf_of"), destination):
            return
    raise missing


async def create_portal_session(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    data: PortalSessionCreate,
    *,
    allowed_hosts: Iterable[str],
    actor: str,
    nonce: str,
    seller: bool = False,
) -> PortalSessionOut:
    """Open a session on the right Stripe account with the account's configuration.

    `seller`: the caller is the account's seller, who may open sessions only for
    its own customers (`check_sellers_customer`).

    `allowed_hosts` are the platform's configured return hosts. `nonce` is drawn
    once per API request: the SDK's retries of this request reuse the key, and
    no two requests share a (single-use) session.
    """
    _check_customer(data)
    after_expiration = _after_expiration(data, int(time.time()))
    account = await get_account(session, account_id)
    platform = await platform_patch(session)
    row = await find_row(session, account_id)
    if (
        row is None
        or row.configuration_id is None
        or row.stripe_account != configuration_home(account)
    ):
        # Never fail for lack of a configuration: make it now.
        row = await sync_account_portal(session, gateway, account, platform, actor=actor)
    reasons = _unavailable_reasons(account, row)
    if reasons or row.configuration_id is None:
        raise Conflict(
            "This account cannot serve a customer portal yet: "
            + "; ".join(reasons or ["it has no portal configuration"])
            + ".",
            code="portal_unavailable",
        )
    platform_settings = platform_document(platform)
    live = await live_settings(session, row)
    settings = live if live is not None else platform_settings
    hosts = allowed_return_hosts(allowed_hosts, settings, platform_settings)
    # Optional, as at Stripe: with no default either, the portal shows no back link.
    if data.return_url is not None:
        _check_return_url(data.return_url, "return_url", hosts)
    if data.flow is not None and isinstance(data.flow.after_completion, RedirectAfter):
        _check_return_url(
            data.flow.after_completion.return_url,
            "flow.after_completion.return_url",
            hosts,
        )

    _check_flow_enabled(data, settings)

    # The one resolution rule, over the stored account and platform branding.
    resolved = await effective_branding_for(session, account)
    if seller and resolved.call.stripe_account is None:
        await check_sellers_customer(gateway, account.id, data.customer, data.customer_account)
    params: dict[str, Any] = {"configuration": row.configuration_id}
    if data.customer is not None:
        params["customer"] = data.customer
    else:
        params["customer_account"] = data.customer_account
    if after_expiration is not None:
        params["after_expiration"] = after_expiration
    if data.return_url is not None:
        params["return_url"] = data.return_url
    if data.locale is not None:
        params["locale"] = data.locale
    if resolved.call.on_behalf_of is not None:
        params["on_behalf_of"] = resolved.call.on_behalf_of
    flow_data = _flow_data(data, settings)
    if flow_data is not None:
        params["flow_data"] = flow_data
    created = await gateway.create_portal_session(
        cast(PortalSessionCreateParams, params),
        stripe_account=resolved.call.stripe_account,
        idempotency_key=idempotency_key("portal.session.create", account.id, nonce),
    )
    await audit.record(
        session,
        actor=actor,
        action="portal_session.created",
        account_id=account.id,
        after={
            "customer": data.customer,
            "customer_account": data.customer_account,
            "flow": flow_data["type"] if flow_data else None,
            "configuration_id": row.configuration_id,
            "branding_source": resolved.source,
            "stripe_account": resolved.call.stripe_account,
            "on_behalf_of": resolved.call.on_behalf_of,
            "session_id": created.get("id"),
        },
    )
    return PortalSessionOut(
        url=str(created["url"]),
        branding_source=resolved.source,
        configuration_id=str(row.configuration_id),
        flow=created.get("flow"),
    )
