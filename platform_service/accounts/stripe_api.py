"""One account model over Stripe's two Accounts APIs.

Each account row says which API it lives on (`accounts_api`): v1 (`/v1/accounts`,
`settings.branding`, form bodies) or v2 (`/v2/core/accounts`,
`configuration.merchant.branding`, JSON bodies, `include` for the parts). The
service speaks one shape everywhere: the v1 Account fields it reads (`email`,
`country`, `business_profile.name`, `controller`, `capabilities`,
`charges_enabled`, `payouts_enabled`, `details_submitted`, `requirements`,
`settings.branding`, `metadata`). This module is the only place that knows the
difference: it turns v1-shaped params into v2 ones on the way out and v2 Accounts
into the v1 shape on the way in, so onboarding state, branding writes and drift,
bulk jobs and the console run unchanged on either API. Idempotency keys are the
caller's, derived as before, so a write retried after a crash walks the same keys
whichever API it goes to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, cast

from platform_service.stripe.gateway import (
    JSON,
    AccountCreateParams,
    AccountLinkCreateParams,
    AccountUpdateParams,
    StripeGateway,
    V2AccountCreateParams,
    V2AccountLinkCreateParams,
    V2AccountUpdateParams,
)

AccountsApi = Literal["v1", "v2"]
ACCOUNTS_APIS: tuple[AccountsApi, ...] = ("v1", "v2")

# v1 controller dashboard type <-> v2 `dashboard`; v2 names the collectors of fees
# and losses (`defaults.responsibilities`) where v1 names payers.
_DASHBOARD = {"express": "express", "none": "none", "full": "full"}
_FEES_PAYER = {
    "application_express": "application",
    "application_custom": "application",
    "application": "application",
    "stripe": "account",
}
# v2 capability status -> v1's (v1 has no restricted/rejected/unsupported: inactive).
_CAPABILITY_STATUS = {"active": "active", "pending": "pending"}


# -- v1 params -> v2 params ---------------------------------------------------------


def v2_create_params(params: AccountCreateParams) -> V2AccountCreateParams:
    """The v2 create request for what `params` asks of v1 (merchant + recipient)."""
    controller: Mapping[str, Any] = params.get("controller") or {}
    dashboard = (controller.get("stripe_dashboard") or {}).get("type") or "full"
    fees_payer = (controller.get("fees") or {}).get("payer")
    losses = (controller.get("losses") or {}).get("payments") or "stripe"
    fees_collector = (
        "stripe"
        if fees_payer != "application"
        else {"express": "application_express", "none": "application_custom"}.get(
            dashboard, "application"
        )
    )
    out: dict[str, Any] = {
        "dashboard": _DASHBOARD[dashboard],
        "defaults": {
            "responsibilities": {"fees_collector": fees_collector, "losses_collector": losses}
        },
        "configuration": {
            # The merchant configuration carries branding and card payments (direct
            # charges and destination charges with on_behalf_of); the recipient one
            # receives transfers (destination charges, separate transfers).
            "merchant": {"capabilities": {"card_payments": {"requested": True}}},
            "recipient": {
                "capabilities": {"stripe_balance": {"stripe_transfers": {"requested": True}}}
            },
        },
    }
    if country := params.get("country"):
        out["identity"] = {"country": country.lower()}
    if email := params.get("email"):
        out["contact_email"] = email
    if name := (params.get("business_profile") or {}).get("name"):
        out["display_name"] = name
    if metadata := params.get("metadata"):
        out["metadata"] = dict(cast(Mapping[str, str], metadata))
    return cast(V2AccountCreateParams, out)


def v2_update_params(params: AccountUpdateParams) -> V2AccountUpdateParams:
    """The v2 update request that writes what the v1-shaped `params` would."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name == "email":
            out["contact_email"] = value
        elif name == "business_profile":
            profile = cast(Mapping[str, Any], value)
            unknown = set(profile) - {"name"}
            if unknown:
                raise ValueError(f"no v2 mapping for business_profile.{sorted(unknown)[0]}")
            out["display_name"] = profile["name"]
        elif name == "settings":
            settings = cast(Mapping[str, Any], value)
            unknown = set(settings) - {"branding"}
            if unknown:
                raise ValueError(f"no v2 mapping for settings.{sorted(unknown)[0]}")
            out.setdefault("configuration", {})["merchant"] = {
                "branding": dict(settings["branding"])
            }
        elif name == "metadata":
            out["metadata"] = dict(cast(Mapping[str, str], value))
        else:
            raise ValueError(f"no v2 mapping for account param {name!r}")
    return cast(V2AccountUpdateParams, out)


def v2_link_params(params: AccountLinkCreateParams) -> V2AccountLinkCreateParams:
    """The v2 account link for a v1 link request (onboarding or update)."""
    use_case_type = params["type"]
    urls: dict[str, Any] = {"refresh_url": params["refresh_url"]}
    if return_url := params.get("return_url"):
        urls["return_url"] = return_url
    return cast(
        V2AccountLinkCreateParams,
        {"account": params["account"], "use_case": {"type": use_case_type, use_case_type: urls}},
    )


# -- v2 Account -> the v1 shape ----------------------------------------------------------


def v1_shape(account: JSON) -> JSON:
    """A v2 Account in the v1 fields the service reads (see the module docstring)."""
    configuration = account.get("configuration") or {}
    merchant = configuration.get("merchant") or {}
    recipient = configuration.get("recipient") or {}
    merchant_caps = merchant.get("capabilities") or {}
    card = merchant_caps.get("card_payments") or {}
    payouts = (merchant_caps.get("stripe_balance") or {}).get("payouts") or {}
    recipient_balance = (recipient.get("capabilities") or {}).get("stripe_balance") or {}
    transfers = recipient_balance.get("stripe_transfers") or {}
    recipient_payouts = recipient_balance.get("payouts") or {}
    identity = account.get("identity") or {}
    tos = ((identity.get("attestations") or {}).get("terms_of_service") or {}).get("account") or {}
    responsibilities = (account.get("defaults") or {}).get("responsibilities") or {}
    capabilities = {
        name: _CAPABILITY_STATUS.get(str(cap.get("status")), "inactive")
        for name, cap in (("card_payments", card), ("transfers", transfers))
        if cap
    }
    country = identity.get("country")
    return {
        "id": account["id"],
        "object": "account",
        "email": account.get("contact_email"),
        "country": country.upper() if isinstance(country, str) else None,
        "business_profile": {"name": account.get("display_name")},
        "controller": {
            "stripe_dashboard": {"type": account.get("dashboard") or "full"},
            "fees": {"payer": _FEES_PAYER.get(str(responsibilities.get("fees_collector")))},
            "losses": {"payments": responsibilities.get("losses_collector")},
            "requirement_collection": responsibilities.get("requirements_collector"),
        },
        "capabilities": capabilities,
        "charges_enabled": card.get("status") == "active",
        "payouts_enabled": "active" in (payouts.get("status"), recipient_payouts.get("status")),
        # v2 has no details_submitted: accepting the terms of service is how Stripe's
        # onboarding ends, and v2 records when the seller did (where the platform may
        # see it); card payments are never enabled before the details are submitted.
        "details_submitted": bool(tos.get("date")) or card.get("status") == "active",
        "requirements": _requirements(account.get("requirements") or {}, card),
        "settings": {"branding": _branding(merchant.get("branding") or {})},
        "metadata": dict(account.get("metadata") or {}),
        # A closed v2 account is gone for the platform, as a deauthorized v1 one is.
        "closed": bool(account.get("closed")),
    }


def _branding(branding: Mapping[str, Any]) -> JSON:
    return {
        name: branding.get(name) for name in ("icon", "logo", "primary_color", "secondary_color")
    }


def _requirements(requirements: Mapping[str, Any], card: Mapping[str, Any]) -> JSON:
    """v2 `requirements.entries` as v1's lists (v1's currently_due includes past_due)."""
    due: dict[str, list[str]] = {"currently_due": [], "eventually_due": [], "past_due": []}
    pending: list[str] = []
    for entry in requirements.get("entries") or []:
        name = str(entry.get("description"))
        if entry.get("awaiting_action_from") == "stripe":
            pending.append(name)
            continue
        status = (entry.get("minimum_deadline") or {}).get("status")
        if status in ("currently_due", "past_due"):
            due["currently_due"].append(name)
        if status == "past_due":
            due["past_due"].append(name)
        due["eventually_due"].append(name)
    deadline = ((requirements.get("summary") or {}).get("minimum_deadline") or {}).get("time")
    return {
        **due,
        "pending_verification": pending,
        "current_deadline": _timestamp(deadline),
        "disabled_reason": _disabled_reason(card),
        "errors": [],
    }


def _disabled_reason(card: Mapping[str, Any]) -> str | None:
    """v1's `requirements.disabled_reason` from the card payments capability's status."""
    status = card.get("status")
    if status in (None, "active"):
        return None
    codes = [str(d.get("code")) for d in card.get("status_details") or []]
    if status == "rejected":
        code = next((c for c in codes if c.startswith("rejected_")), "rejected_other")
        # v1 spells them rejected.fraud, rejected.terms_of_service, …; the platform's own
        # rejections keep their `platform_` so the reason says who rejected.
        return "rejected." + code.removeprefix("rejected_")
    if "requirements_pending_verification" in codes or status == "pending":
        return "requirements.pending_verification"
    if "requirements_past_due" in codes:
        return "requirements.past_due"
    return "other"


def _timestamp(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    return int(datetime.fromisoformat(value).timestamp())


# -- the calls -------------------------------------------------------------------------


async def create(
    gateway: StripeGateway, api: AccountsApi, params: AccountCreateParams, *, idempotency_key: str
) -> JSON:
    """Create the account on `api`; the answer in the v1 shape."""
    if api == "v2":
        created = await gateway.create_account_v2(
            v2_create_params(params), idempotency_key=idempotency_key
        )
        return v1_shape(created)
    return await gateway.create_account(params, idempotency_key=idempotency_key)


async def retrieve(gateway: StripeGateway, api: AccountsApi, account_id: str) -> JSON:
    """The account as Stripe holds it now, in the v1 shape."""
    if api == "v2":
        return v1_shape(await gateway.retrieve_account_v2(account_id))
    return await gateway.retrieve_account(account_id)


async def update(
    gateway: StripeGateway,
    api: AccountsApi,
    account_id: str,
    params: AccountUpdateParams,
    *,
    idempotency_key: str,
) -> JSON:
    """Write v1-shaped `params` to the account on `api`; the answer in the v1 shape."""
    if api == "v2":
        updated = await gateway.update_account_v2(
            account_id, v2_update_params(params), idempotency_key=idempotency_key
        )
        return v1_shape(updated)
    return await gateway.update_account(account_id, params, idempotency_key=idempotency_key)


async def create_link(
    gateway: StripeGateway,
    api: AccountsApi,
    params: AccountLinkCreateParams,
    *,
    idempotency_key: str,
) -> tuple[str, datetime]:
    """A hosted onboarding/update link (a bearer URL) and when it expires."""
    if api == "v2":
        link = await gateway.create_account_link_v2(
            v2_link_params(params), idempotency_key=idempotency_key
        )
        return str(link["url"]), datetime.fromisoformat(str(link["expires_at"]))
    link = await gateway.create_account_link(params, idempotency_key=idempotency_key)
    return str(link["url"]), datetime.fromtimestamp(int(link["expires_at"]), tz=UTC)


async def iterate(
    gateway: StripeGateway, api: AccountsApi, *, resume_after: str | None = None
) -> AsyncIterator[JSON]:
    """Every connected account on `api` in the v1 shape, after `resume_after` when given."""
    if api == "v1":
        params = {"starting_after": resume_after} if resume_after else {}
        async for account in gateway.iter_accounts(params):  # type: ignore[arg-type]
            yield account
        return
    # v2 lists page by opaque tokens, so a resumed import lists again from the top and
    # skips up to the last account it applied (upserts are idempotent either way); if
    # that account is gone from the list, nothing is skipped.
    for skip_to in (resume_after, None) if resume_after else (None,):
        skipping = skip_to is not None
        async for listed in gateway.iter_accounts_v2():
            if skipping:
                skipping = listed["id"] != skip_to
                continue
            configurations = listed.get("applied_configurations") or []
            if "merchant" not in configurations and "recipient" not in configurations:
                continue  # a customer Account: not a seller
            # A v2 list carries no `include`d parts: each account is read whole.
            yield v1_shape(await gateway.retrieve_account_v2(listed["id"]))
        if not skipping:
            return
