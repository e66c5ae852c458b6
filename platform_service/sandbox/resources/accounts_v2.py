"""Accounts v2 (`/v2/core/accounts`): writes land on the one account record, reads are
its v2 view (`v2_accounts.py`)."""

from __future__ import annotations

import copy
import time
from typing import Any

from stripe.params.v2.core import (
    AccountCloseParams,
    AccountCreateParams,
    AccountListParams,
    AccountRetrieveParams,
    AccountUpdateParams,
)

from platform_service.sandbox import v2_accounts
from platform_service.sandbox.errors import StripeError, invalid_request
from platform_service.sandbox.resources.accounts import (
    _requirements,
    check_branding,
    diff,
    new_account,
)
from platform_service.sandbox.routing import Ctx, Params, route
from platform_service.sandbox.v2_accounts import find, sync
from platform_service.sandbox.v2_pages import page_of
from platform_service.sandbox.v2_view import view

_CONNECTED = ("merchant", "recipient")


def _controller(params: Params) -> dict[str, Any]:
    """v2 `dashboard` + `defaults.responsibilities` as the v1 `controller` they mean."""
    dashboard = params.get("dashboard") or "full"
    responsibilities = (params.get("defaults") or {}).get("responsibilities") or {}
    controller: dict[str, Any] = {"stripe_dashboard": {"type": dashboard}}
    if fees := responsibilities.get("fees_collector"):
        controller["fees"] = {"payer": "account" if fees == "stripe" else "application"}
    if losses := responsibilities.get("losses_collector"):
        controller["losses"] = {"payments": losses}
    return controller


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    """v2 updates: objects merge, `null` unsets."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _apply(ctx: Ctx, record: dict[str, Any], params: Params) -> None:
    base = record["base"]
    profile = base["business_profile"]
    if "display_name" in params:
        profile["name"] = params["display_name"]
    if "contact_email" in params:
        base["email"] = params["contact_email"]
    if "contact_phone" in params:
        record["contact_phone"] = params["contact_phone"]
    if "dashboard" in params:
        base["controller"]["stripe_dashboard"]["type"] = params["dashboard"]
    if (metadata := params.get("metadata")) is not None:
        current = dict(base.get("metadata") or {})
        for key, value in metadata.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        base["metadata"] = current
    identity = dict(params.get("identity") or {})
    if "country" in identity:
        base["country"] = identity.pop("country")
    if "entity_type" in identity:
        base["business_type"] = identity.pop("entity_type")
    _merge(record["identity"], identity)
    defaults = dict(params.get("defaults") or {})
    defaults.pop("responsibilities", None)
    if "currency" in defaults:
        base["default_currency"] = defaults["currency"]
    if "locales" in defaults:
        record["defaults"]["locales"] = list(defaults["locales"] or [])
    given_profile = defaults.get("profile") or {}
    for v2_key, v1_key in (("business_url", "url"), ("product_description", "product_description")):
        if v2_key in given_profile:
            profile[v1_key] = given_profile[v2_key]
    if "doing_business_as" in given_profile:
        record["defaults"]["doing_business_as"] = given_profile["doing_business_as"]
    for name, given in (params.get("configuration") or {}).items():
        _configure(ctx, record, name, dict(given))


def _configure(ctx: Ctx, record: dict[str, Any], name: str, given: dict[str, Any]) -> None:
    base = record["base"]
    if name in _CONNECTED and record["scope"] != ctx.state.platform_id:
        raise invalid_request(
            f"configuration.{name} can only be set on accounts of the platform.",
            param=f"configuration.{name}",
        )
    given.pop("applied", None)
    caps = given.pop("capabilities", None) or {}
    if name == "merchant":
        if branding := given.pop("branding", None):
            check_branding(ctx, branding, "configuration.merchant.branding.{}")
            _merge(base["settings"]["branding"], branding)
        if "mcc" in given:
            base["business_profile"]["mcc"] = given.pop("mcc")
        support = given.pop("support", None) or {}
        for v2_key, v1_key in (("email", "support_email"), ("phone", "support_phone"),
                               ("url", "support_url")):  # fmt: skip
            if v2_key in support:
                base["business_profile"][v1_key] = support.pop(v2_key)
        if support:
            given["support"] = support
        _request(base, "card_payments", caps.get("card_payments"))
    elif name == "recipient":
        balance = caps.get("stripe_balance") or {}
        _request(base, "transfers", balance.get("stripe_transfers"))
    elif caps:
        given["capabilities"] = caps
    _merge(record["configs"][name], given)
    if name not in record["applied"]:
        record["applied"] = sorted([*record["applied"], name])


def _request(base: dict[str, Any], capability: str, spec: dict[str, Any] | None) -> None:
    if not spec:
        return
    caps = base["capabilities"]
    if spec.get("requested") and capability not in caps:
        caps[capability] = "active" if base["charges_enabled"] else "inactive"
    elif spec.get("requested") is False:
        caps.pop(capability, None)


@route("POST", "/v2/core/accounts", AccountCreateParams)
def create_account(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    configuration = params.get("configuration") or {}
    connected = any(name in configuration for name in _CONNECTED)
    if connected and not ctx.on_platform:
        raise StripeError(400, "Connected accounts cannot create connected accounts.")
    identity = params.get("identity") or {}
    base = new_account(
        {"controller": _controller(params), "country": identity.get("country", "US")}
    )
    if not connected:
        # A customer-only account is no seller: nothing to onboard.
        base["requirements"] = _requirements([])
        base["capabilities"] = {}
    record = v2_accounts.new_record(base, scope=ctx.scope.account_id, applied=[])
    _apply(ctx, record, params)
    if connected:
        ctx.state.accounts()[base["id"]] = base
        ctx.state.scope_for(base["id"])
    ctx.state.v2_accounts[base["id"]] = record
    v2_accounts.announce(ctx.state, record)
    return view(record, params.get("include"))


@route("GET", "/v2/core/accounts/{id}", AccountRetrieveParams)
def retrieve_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    return view(find(ctx.state, args["id"], ctx.scope.account_id), params.get("include"))


@route("POST", "/v2/core/accounts/{id}", AccountUpdateParams)
def update_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    record = find(ctx.state, args["id"], ctx.scope.account_id)
    if record["closed"]:
        raise invalid_request(f"Account '{args['id']}' is closed and cannot be updated.")
    before = copy.deepcopy(record["base"])
    candidate = copy.deepcopy(record)
    candidate["base"] = copy.deepcopy(record["base"])
    _apply(ctx, candidate, params)  # validate fully before touching the stored record
    record["base"].clear()
    record["base"].update(candidate.pop("base"))
    record.update({k: v for k, v in candidate.items() if k != "last_view"})
    if record["base"] != before and record["id"] in ctx.state.accounts():
        ctx.state.emit(
            record["id"], "account.updated", record["base"], diff(before, record["base"])
        )
    sync(ctx.state, record)
    return view(record, params.get("include"))


@route("GET", "/v2/core/accounts", AccountListParams)
def list_accounts(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    def matches(record: dict[str, Any], query: dict[str, Any]) -> bool:
        wanted = set(query.get("applied_configurations") or [])
        return (
            record["scope"] == query["scope"]
            and record["visible_at"] <= time.time()
            and record["id"] not in ctx.state.deauthorized
            and wanted <= set(record["applied"])
            and record["closed"] == bool(query.get("closed", False))
        )

    query: dict[str, Any] = {
        k: params[k] for k in ("applied_configurations", "closed") if k in params
    }
    query["scope"] = ctx.scope.account_id
    records = list(ctx.state.v2_accounts.values())
    page, found = page_of(ctx, "/v2/core/accounts", records, params, query, matches)
    for record in found:
        v2_accounts.announce(ctx.state, record)
    page["data"] = [view(r, ()) for r in found]
    return page


@route("POST", "/v2/core/accounts/{id}/close", AccountCloseParams)
def close_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    record = find(ctx.state, args["id"], ctx.scope.account_id)
    given = params.get("applied_configurations")
    if given is not None and sorted(set(given)) != sorted(record["applied"]):
        raise invalid_request(
            "All configurations on the Account must be passed in to close it: "
            f"{', '.join(record['applied'])}.",
            param="applied_configurations",
        )
    if not record["closed"]:
        record["closed"] = True
        v2_accounts.emit(ctx.state, "v2.core.account.closed", record)
        sync(ctx.state, record)
    return view(record, ())
