"""Billing portal configurations and sessions, with the rules Stripe enforces beyond the
types: at most 10 products whose prices belong to them, no API-made default
configuration, and the conditional requirements of `flow_data`."""

from __future__ import annotations

import copy
from typing import Any

from stripe.params.billing_portal._configuration_create_params import ConfigurationCreateParams
from stripe.params.billing_portal._configuration_list_params import ConfigurationListParams
from stripe.params.billing_portal._configuration_retrieve_params import (
    ConfigurationRetrieveParams,
)
from stripe.params.billing_portal._configuration_update_params import ConfigurationUpdateParams
from stripe.params.billing_portal._session_create_params import SessionCreateParams

from platform_service.sandbox import v2_accounts
from platform_service.sandbox.errors import StripeError, invalid_request, resource_missing
from platform_service.sandbox.resources.accounts import diff
from platform_service.sandbox.routing import (
    Ctx,
    Params,
    apply_metadata,
    blank_to_none,
    paginate,
    route,
)
from platform_service.sandbox.state import new_id, now

MAX_PRODUCTS = 10
MAX_HEADLINE = 60
SANDBOX_APPLICATION = "ca_sandboxplatformservice"
_CANCEL_REASONS = ["too_expensive", "missing_features", "switched_service", "unused", "other"]
_NO_DEFAULT = (
    "You can't create a portal session in test mode until you save your customer portal "
    "settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
)


def _default_features() -> dict[str, Any]:
    """What an API-created configuration holds for every feature it was not given."""
    return {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "enabled": False,
            "mode": "at_period_end",
            "proration_behavior": "none",
            "cancellation_reason": {
                "enabled": False,
                "options": list(_CANCEL_REASONS),
                "feedback_options": [],
            },
        },
        "subscription_pause": {
            "enabled": False,
            "duration": {
                "type": "interval_options",
                "interval_options": [{"interval": "month", "interval_count": 1}],
            },
        },
        "subscription_update": {
            "default_allowed_updates": [],
            "enabled": False,
            "products": [],
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
            "billing_cycle_anchor": "unchanged",
        },
    }


def _merge_features(ctx: Ctx, current: dict[str, Any], given: dict[str, Any]) -> None:
    for name, settings in given.items():
        target = current[name]
        for key, value in settings.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **{k: [] if v == "" else v for k, v in value.items()}}
            else:
                target[key] = [] if value == "" else value
        if name == "subscription_update" and "products" in settings:
            target["products"] = [_product_entry(p) for p in target["products"]]
    _check_features(ctx, current)


def _product_entry(given: dict[str, Any]) -> dict[str, Any]:
    qty = given.get("adjustable_quantity") or {}
    return {
        "product": given["product"],
        "prices": list(given["prices"]),
        "adjustable_quantity": {
            "enabled": qty.get("enabled", False),
            "minimum": qty.get("minimum", 1),
            "maximum": qty.get("maximum"),
        },
    }


def _check_features(ctx: Ctx, features: dict[str, Any]) -> None:
    update = features["subscription_update"]
    base = "features[subscription_update][products]"
    if len(update["products"]) > MAX_PRODUCTS:
        raise invalid_request(f"You can only specify up to {MAX_PRODUCTS} products.", param=base)
    for i, entry in enumerate(update["products"]):
        product_id = entry["product"]
        if ctx.scope.get("products", product_id) is None:
            raise resource_missing("product", product_id, param=f"{base}[{i}][product]")
        for j, price_id in enumerate(entry["prices"]):
            price = ctx.scope.get("prices", price_id)
            if price is None:
                raise resource_missing("price", price_id, param=f"{base}[{i}][prices][{j}]")
            if price["product"] != product_id:
                raise invalid_request(
                    f"The price `{price_id}` does not belong to product `{product_id}`.",
                    param=f"{base}[{i}][prices][{j}]",
                )
    if (
        update["enabled"]
        and "price" in update["default_allowed_updates"]
        and not update["products"]
    ):
        raise invalid_request(
            "You must specify at least one product when `price` is an allowed update.",
            param=base,
        )
    cancel = features["subscription_cancel"]
    if cancel["proration_behavior"] == "always_invoice":
        raise invalid_request(
            "`always_invoice` is not supported for subscription cancellations.",
            param="features[subscription_cancel][proration_behavior]",
        )
    if cancel["proration_behavior"] == "create_prorations" and cancel["mode"] != "immediately":
        raise invalid_request(
            "Prorations can only be created when cancelling immediately.",
            param="features[subscription_cancel][proration_behavior]",
        )
    duration = features["subscription_pause"]["duration"]
    if duration["type"] == "interval_options" and not duration.get("interval_options"):
        raise invalid_request(
            "Missing required param: features[subscription_pause][duration][interval_options].",
            param="features[subscription_pause][duration][interval_options]",
            code="parameter_missing",
        )


def _apply(ctx: Ctx, config: dict[str, Any], params: Params) -> None:
    if "business_profile" in params:
        profile = params["business_profile"]
        headline = profile.get("headline")
        if headline and len(headline) > MAX_HEADLINE:
            raise invalid_request(
                f"The headline must be at most {MAX_HEADLINE} characters.",
                param="business_profile[headline]",
            )
        config["business_profile"].update({k: blank_to_none(v) for k, v in profile.items()})
    if "features" in params:
        _merge_features(ctx, config["features"], params["features"])
    for key in ("default_return_url", "name"):
        if key in params:
            config[key] = blank_to_none(params[key])
    if "active" in params:
        config["active"] = params["active"]
    if "login_page" in params:
        enabled = params["login_page"]["enabled"]
        url = config["login_page"]["url"]
        if enabled and url is None:
            # Stripe deactivates the old URL on disable and makes a new one on enable.
            token = new_id("", 24)
            ctx.state.login_pages[token] = (ctx.scope.account_id, config["id"])
            url = f"{ctx.base_url}/_sandbox/pages/login/{token}"
        config["login_page"] = {"enabled": enabled, "url": url if enabled else None}
    apply_metadata(config, params.get("metadata"))
    config["updated"] = now()


@route("POST", "/v1/billing_portal/configurations", ConfigurationCreateParams)
def create_configuration(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    created = now()
    config: dict[str, Any] = {
        "id": new_id("bpc_"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None if ctx.on_platform else SANDBOX_APPLICATION,
        "business_profile": {"headline": None, "privacy_policy_url": None,
                             "terms_of_service_url": None},
        "created": created,
        "default_return_url": None,
        "features": _default_features(),
        # Only a configuration saved in the Dashboard is the default; API ones never are.
        "is_default": False,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": created,
    }  # fmt: skip
    _apply(ctx, config, params)
    ctx.scope.put("billing_portal.configurations", config)
    ctx.emit("billing_portal.configuration.created", config)
    return config


@route("POST", "/v1/billing_portal/configurations/{id}", ConfigurationUpdateParams)
def update_configuration(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    config = _configuration(ctx, args["id"], "id")
    before = copy.deepcopy(config)
    candidate = copy.deepcopy(config)
    _apply(ctx, candidate, params)  # validate fully before touching the stored object
    config.clear()
    config.update(candidate)
    ctx.emit("billing_portal.configuration.updated", config, diff(before, config))
    return config


@route("GET", "/v1/billing_portal/configurations/{id}", ConfigurationRetrieveParams)
def retrieve_configuration(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    return _configuration(ctx, args["id"], "id")


@route("GET", "/v1/billing_portal/configurations", ConfigurationListParams)
def list_configurations(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = list(ctx.scope.table("billing_portal.configurations").values())
    if "active" in params:
        items = [c for c in items if c["active"] == params["active"]]
    if "is_default" in params:
        items = [c for c in items if c["is_default"] == params["is_default"]]
    return paginate(ctx, items, params, "/v1/billing_portal/configurations")


def _configuration(ctx: Ctx, config_id: str, param: str) -> dict[str, Any]:
    config: dict[str, Any] = ctx.require(
        "billing_portal.configurations", config_id, "configuration", param=param
    )
    return config


# -- sessions ----------------------------------------------------------------------------


def _session_configuration(ctx: Ctx, params: Params) -> dict[str, Any]:
    config_id = params.get("configuration")
    if config_id is None:
        config_id = ctx.scope.default_portal_configuration
        if config_id is None:
            raise StripeError(400, _NO_DEFAULT)
    config = _configuration(ctx, config_id, "configuration")
    if not config["active"]:
        raise invalid_request(
            f"The configuration `{config_id}` is inactive; activate it to create sessions.",
            param="configuration",
        )
    return config


def _subscription(ctx: Ctx, sub_id: str, customer: str, param: str) -> dict[str, Any]:
    sub: dict[str, Any] = ctx.require("subscriptions", sub_id, "subscription", param=param)
    if (sub.get("customer") or sub.get("customer_account")) != customer:
        raise invalid_request(
            f"The subscription `{sub_id}` does not belong to customer `{customer}`.", param=param
        )
    return sub


def _check_flow(
    ctx: Ctx, flow: dict[str, Any], customer: str, config: dict[str, Any]
) -> dict[str, Any]:
    kind = flow["type"]
    features = config["features"]
    for nested in ("subscription_cancel", "subscription_pause", "subscription_update",
                   "subscription_update_confirm"):  # fmt: skip
        if nested in flow and nested != kind:
            raise invalid_request(
                f"flow_data[{nested}] can only be set when flow_data[type] is `{nested}`.",
                param=f"flow_data[{nested}]",
            )
    needed = {
        "subscription_cancel": "subscription_cancel",
        "subscription_pause": "subscription_pause",
        "subscription_update": "subscription_update",
        "subscription_update_confirm": "subscription_update",
    }
    out: dict[str, Any] = {"type": kind, "subscription_cancel": None, "subscription_pause": None,
                           "subscription_update": None, "subscription_update_confirm": None}  # fmt: skip
    if kind in needed:
        if kind not in flow:
            raise invalid_request(
                f"Missing required param: flow_data[{kind}].",
                param=f"flow_data[{kind}]",
                code="parameter_missing",
            )
        body = flow[kind]
        _subscription(ctx, body["subscription"], customer, f"flow_data[{kind}][subscription]")
        feature = needed[kind]
        if not features[feature]["enabled"]:
            raise invalid_request(
                f"The `{kind}` flow needs features[{feature}][enabled] on the configuration.",
                param="flow_data[type]",
            )
        if kind == "subscription_cancel" and body.get("retention"):
            coupon = body["retention"]["coupon_offer"]["coupon"]
            ctx.require("coupons", coupon, "coupon",
                        param="flow_data[subscription_cancel][retention][coupon_offer][coupon]")  # fmt: skip
        if kind == "subscription_update_confirm":
            _check_confirm(body, features)
        out[kind] = body
    after = flow.get("after_completion") or {"type": "portal_homepage"}
    if after["type"] == "redirect" and not (after.get("redirect") or {}).get("return_url"):
        raise invalid_request(
            "Missing required param: flow_data[after_completion][redirect].",
            param="flow_data[after_completion][redirect]",
            code="parameter_missing",
        )
    out["after_completion"] = {
        "type": after["type"],
        "hosted_confirmation": after.get("hosted_confirmation"),
        "redirect": after.get("redirect"),
    }
    return out


def _check_confirm(body: dict[str, Any], features: dict[str, Any]) -> None:
    items = body["items"]
    if len(items) != 1:
        raise invalid_request(
            "Only one item can be updated with a subscription_update_confirm flow.",
            param="flow_data[subscription_update_confirm][items]",
        )
    price = items[0].get("price")
    allowed = {p for entry in features["subscription_update"]["products"] for p in entry["prices"]}
    if price and price not in allowed:
        raise invalid_request(
            f"The price `{price}` is not in features[subscription_update][products] of the "
            "configuration.",
            param="flow_data[subscription_update_confirm][items][0][price]",
        )


@route("POST", "/v1/billing_portal/sessions", SessionCreateParams)
def create_session(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    customer, customer_account = v2_accounts.require_customer(
        ctx.state, ctx.scope.account_id, params
    )
    on_behalf_of = params.get("on_behalf_of")
    if on_behalf_of and (not ctx.on_platform or not ctx.state.is_connected(on_behalf_of)):
        raise invalid_request(
            f"`on_behalf_of` must be an account connected to the platform: '{on_behalf_of}'.",
            param="on_behalf_of",
        )
    config = _session_configuration(ctx, params)
    # Optional, like Stripe's: without one (nor a default) the portal hides "Return to".
    return_url = params.get("return_url") or config["default_return_url"]
    flow = (
        _check_flow(ctx, params["flow_data"], str(customer or customer_account), config)
        if "flow_data" in params
        else None
    )
    token = new_id("", 32)
    session = {
        "id": new_id("bps_"),
        "object": "billing_portal.session",
        "after_expiration": params.get("after_expiration"),
        "configuration": config["id"],
        "created": now(),
        "customer": customer,
        "customer_account": params.get("customer_account"),
        "flow": flow,
        "livemode": False,
        "locale": params.get("locale"),
        "on_behalf_of": on_behalf_of,
        "return_url": return_url,
        "url": f"{ctx.base_url}/_sandbox/pages/portal/{token}",
    }
    ctx.state.portal_sessions[token] = {"scope": ctx.scope.account_id, "session": session}
    ctx.emit("billing_portal.session.created", session)
    return session
