"""Connected accounts (v1), account links and the onboarding outcomes that drive them."""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from stripe.params._account_create_params import AccountCreateParams
from stripe.params._account_delete_params import AccountDeleteParams
from stripe.params._account_link_create_params import AccountLinkCreateParams
from stripe.params._account_list_params import AccountListParams
from stripe.params._account_reject_params import AccountRejectParams
from stripe.params._account_retrieve_current_params import AccountRetrieveCurrentParams
from stripe.params._account_retrieve_params import AccountRetrieveParams
from stripe.params._account_update_params import AccountUpdateParams

from platform_service.sandbox import v2_accounts
from platform_service.sandbox.errors import (
    StripeError,
    account_invalid,
    invalid_request,
    resource_missing,
)
from platform_service.sandbox.images import check_branding_image
from platform_service.sandbox.routing import (
    Ctx,
    Params,
    apply_metadata,
    created_filter,
    paginate,
    route,
)
from platform_service.sandbox.state import SandboxState, new_id, now

Outcome = Literal["complete", "requirements_due", "under_review", "restricted", "rejected"]
OUTCOMES: tuple[str, ...] = (
    "complete",
    "requirements_due",
    "under_review",
    "restricted",
    "rejected",
)

# What hosted onboarding asks a fresh account for.
INITIAL_DUE = [
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
_DASHBOARD_TYPE = {"full": "standard", "express": "express", "none": "custom"}
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$|^#[0-9a-fA-F]{3}$")


def _requirements(
    due: list[str],
    *,
    past_due: list[str] | None = None,
    pending: list[str] | None = None,
    disabled_reason: str | None = None,
    deadline: int | None = None,
) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": deadline,
        "currently_due": list(due),
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(past_due or []),
        "pending_verification": list(pending or []),
    }


def _controller(params: Params) -> tuple[dict[str, Any], str]:
    given = params.get("controller") or {}
    legacy = params.get("type")
    dashboard = (given.get("stripe_dashboard") or {}).get("type")
    if legacy and not dashboard:
        dashboard = {"standard": "full", "express": "express", "custom": "none"}[legacy]
    dashboard = dashboard or "full"
    fees = (given.get("fees") or {}).get("payer") or (
        "account" if dashboard == "full" else "application"
    )
    losses = (given.get("losses") or {}).get("payments") or (
        "stripe" if dashboard == "full" else "application"
    )
    collection = (given.get("requirement_collection")) or (
        "application" if dashboard == "none" else "stripe"
    )
    controller = {
        "type": "application",
        "is_controller": True,
        "fees": {
            "payer": fees if fees == "account" else f"application_{_DASHBOARD_TYPE[dashboard]}"
        },
        "losses": {"payments": losses},
        "requirement_collection": collection,
        "stripe_dashboard": {"type": dashboard},
    }
    return controller, legacy or _DASHBOARD_TYPE[dashboard]


def new_account(params: Params) -> dict[str, Any]:
    controller, account_type = _controller(params)
    capabilities = {
        name: "inactive"
        for name, spec in (params.get("capabilities") or {}).items()
        if spec.get("requested")
    }
    branding = {"icon": None, "logo": None, "primary_color": None, "secondary_color": None}
    profile = {"name": None, "url": None, "support_email": None, "support_url": None, "mcc": None}
    account: dict[str, Any] = {
        "id": new_id("acct_", 16),
        "object": "account",
        "business_profile": profile,
        "business_type": params.get("business_type"),
        "capabilities": capabilities,
        "charges_enabled": False,
        "controller": controller,
        "country": params.get("country", "US"),
        "created": now(),
        "default_currency": params.get("default_currency", "usd"),
        "details_submitted": False,
        "email": params.get("email"),
        "future_requirements": _requirements([]),
        "metadata": {},
        "payouts_enabled": False,
        # Stripe marks a fresh account's requirements past due straight away.
        "requirements": _requirements(
            INITIAL_DUE, past_due=INITIAL_DUE, disabled_reason="requirements.past_due"
        ),
        "settings": {"branding": branding, "dashboard": {"display_name": None}},
        "tos_acceptance": {"date": None},
        "type": account_type,
    }
    return account


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, dict):
            target[key] = {}
            _merge(target[key], value)
        else:
            target[key] = None if value == "" else value


def diff(old: Any, new: Any) -> Any:
    """Stripe's `previous_attributes`: old values of what changed, nested like the object."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = {}
        for key in old.keys() | new.keys():
            if old.get(key) != new.get(key):
                out[key] = diff(old.get(key), new.get(key)) if key in old else None
        return out
    return old


def check_branding(
    ctx: Ctx, branding: dict[str, Any], prefix: str = "settings[branding][{}]"
) -> None:
    """Stripe's branding rules; `prefix` spells the param path (v2: `a.b.{}`)."""
    for field in ("icon", "logo"):
        file_id = branding.get(field)
        if not file_id:
            continue
        param = prefix.format(field)
        # Branding files must be uploaded on the platform: a file on the connected
        # account is invisible here, as on Stripe.
        file_obj = ctx.state.platform.get("files", file_id)
        if file_obj is None:
            raise StripeError(
                400, f"No such file upload: '{file_id}'", code="resource_missing", param=param
            )
        if file_obj["purpose"] not in ("business_icon", "business_logo"):
            raise invalid_request(
                f"The file '{file_id}' has purpose '{file_obj['purpose']}', but a branding "
                "image must have purpose business_icon or business_logo.",
                param=param,
            )
        problem = check_branding_image(ctx.state.file_blobs[file_id], square=field == "icon")
        if problem:
            raise invalid_request(f"Invalid {field} image: {problem}", param=param)
    for field in ("primary_color", "secondary_color"):
        color = branding.get(field)
        if color and not _COLOR.match(color):
            raise invalid_request(
                f"Invalid {field}: must be a CSS hex color value like #0A2540",
                param=prefix.format(field),
            )


def _apply(ctx: Ctx, account: dict[str, Any], params: Params) -> None:
    branding = (params.get("settings") or {}).get("branding")
    if branding:
        check_branding(ctx, branding)
    skip = {"expand", "metadata", "capabilities", "controller", "type", "account_token"}
    _merge(account, {k: v for k, v in params.items() if k not in skip})
    apply_metadata(account, params.get("metadata"))
    for name, spec in (params.get("capabilities") or {}).items():
        if spec.get("requested") and name not in account["capabilities"]:
            account["capabilities"][name] = "active" if account["charges_enabled"] else "inactive"
        elif spec.get("requested") is False:
            account["capabilities"].pop(name, None)


def connected(ctx: Ctx, account_id: str) -> dict[str, Any]:
    account = ctx.state.accounts().get(account_id)
    if account is None or account_id in ctx.state.deauthorized:
        raise resource_missing("account", account_id, param="account")
    return account


@route("POST", "/v1/accounts", AccountCreateParams)
def create_account(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    if not ctx.on_platform:
        raise StripeError(400, "Connected accounts cannot create connected accounts.")
    account = new_account(params)
    _apply(ctx, account, params)
    ctx.state.accounts()[account["id"]] = account
    ctx.state.scope_for(account["id"])
    applied = ["merchant"] + (["recipient"] if "transfers" in account["capabilities"] else [])
    v2_accounts.register(
        ctx.state, account, scope=ctx.state.platform_id, applied=applied,
        delay_s=ctx.v2_ready_delay_s,
    )  # fmt: skip
    return account


@route("GET", "/v1/accounts", AccountListParams)
def list_accounts(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = created_filter(ctx.state.accounts().values(), params.get("created"))
    return paginate(ctx, items, params, "/v1/accounts")


@route("GET", "/v1/account", AccountRetrieveCurrentParams)
def retrieve_current(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    if ctx.on_platform:
        return ctx.state.platform_account
    return connected(ctx, ctx.scope.account_id)


def _target(ctx: Ctx, account_id: str) -> dict[str, Any]:
    if account_id == ctx.state.platform_id:
        return ctx.state.platform_account
    account = ctx.state.accounts().get(account_id)
    if account is None:
        raise resource_missing("account", account_id)
    if account_id in ctx.state.deauthorized:
        # Like Stripe: once the account revoked the platform's access, the platform's
        # key can no longer read or write it, even by path.
        raise account_invalid(account_id)
    return account


@route("GET", "/v1/accounts/{id}", AccountRetrieveParams)
def retrieve_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    return _target(ctx, args["id"])


@route("POST", "/v1/accounts/{id}", AccountUpdateParams)
def update_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    account = _target(ctx, args["id"])
    before = copy.deepcopy(account)
    _apply(ctx, account, params)
    changed = diff(before, account)
    if changed:
        owner = account["id"]
        ctx.state.emit(owner, "account.updated", account, changed)
        _emit_capabilities(ctx.state, account, before)
    return account


@route("DELETE", "/v1/accounts/{id}", AccountDeleteParams)
def delete_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    account = ctx.state.accounts().pop(args["id"], None)
    if account is None:
        raise resource_missing("account", args["id"])
    ctx.state.v2_accounts.pop(args["id"], None)
    return {"id": args["id"], "object": "account", "deleted": True}


@route("POST", "/v1/accounts/{id}/reject", AccountRejectParams)
def reject_account(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    account = _target(ctx, args["id"])
    reason = params["reason"]
    if reason.startswith("fraud"):
        reason = "fraud"
    elif reason != "terms_of_service":
        reason = "other"
    return set_outcome(ctx.state, account, "rejected", reject_reason=reason)


@route("POST", "/v1/account_links", AccountLinkCreateParams)
def create_account_link(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    account = ctx.state.accounts().get(params["account"])
    if account is None:
        raise resource_missing("account", params["account"], param="account")
    if (
        params["type"] == "account_update"
        and account["controller"]["requirement_collection"] != "application"
    ):
        raise invalid_request(
            "You cannot create `account_update` type Account Links for accounts where the "
            "platform does not collect requirements; use `account_onboarding`.",
            param="type",
        )
    token = new_id("", 32)
    created = now()
    ctx.state.account_links[token] = {
        "account": account["id"],
        "refresh_url": params.get("refresh_url"),
        "return_url": params.get("return_url"),
        "expires_at": created + 300,
        "used": False,
    }
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + 300,
        "url": f"{ctx.base_url}/_sandbox/pages/onboarding/{token}",
    }


def set_outcome(
    state: SandboxState, account: dict[str, Any], outcome: str, *, reject_reason: str = "fraud"
) -> dict[str, Any]:
    """Move an account as finishing (or half-finishing) hosted onboarding would."""
    before = copy.deepcopy(account)
    caps = account["capabilities"] or {"card_payments": "inactive", "transfers": "inactive"}
    t = now()
    if outcome == "complete":
        fields = (True, True, True, _requirements([]), "active")
    elif outcome == "requirements_due":
        due = ["individual.verification.document"]
        reqs = _requirements(due, deadline=t + 14 * 86400)
        fields = (True, True, False, reqs, "active")
    elif outcome == "under_review":
        reqs = _requirements([], pending=["individual.id_number"], disabled_reason="under_review")
        fields = (True, False, False, reqs, "pending")
    elif outcome == "restricted":
        due = ["external_account"]
        reqs = _requirements(due, past_due=due, disabled_reason="requirements.past_due")
        fields = (True, False, False, reqs, "inactive")
    elif outcome == "rejected":
        reqs = _requirements([], disabled_reason=f"rejected.{reject_reason}")
        fields = (account["details_submitted"], False, False, reqs, "inactive")
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    submitted, charges, payouts, requirements, cap_status = fields
    account.update(
        details_submitted=submitted,
        charges_enabled=charges,
        payouts_enabled=payouts,
        requirements=requirements,
        capabilities={name: cap_status for name in caps},
    )
    if outcome == "requirements_due":
        account["capabilities"] = {
            name: "active" if name == "card_payments" else "pending" for name in caps
        }
    if submitted and not account["tos_acceptance"].get("date"):
        account["tos_acceptance"]["date"] = t
    changed = diff(before, account)
    if changed:
        state.emit(account["id"], "account.updated", account, changed)
        _emit_capabilities(state, account, before)
    return account


def _emit_capabilities(
    state: SandboxState, account: dict[str, Any], before: dict[str, Any]
) -> None:
    for name, status in account["capabilities"].items():
        if before["capabilities"].get(name) != status:
            capability = {
                "id": name,
                "object": "capability",
                "account": account["id"],
                "requested": True,
                "requested_at": account["created"],
                "status": status,
            }
            state.emit(
                account["id"],
                "capability.updated",
                capability,
                {"status": before["capabilities"].get(name)},
            )
