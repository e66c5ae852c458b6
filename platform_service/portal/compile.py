"""Compile a portal settings document into Stripe `billing_portal.Configuration` params.

Pure: the gateway sends the result. Validate the document first
(`portal.validation.validate`); compiling leaves out options whose
prerequisite is off rather than guessing what an invalid document meant.

Every feature of the seed page has its `enabled` sent explicitly, because a
configuration created through the API does not start from the Dashboard's
defaults (stripe-contract.md §1.6). The options Stripe has beyond the seed page
(pause, trial and anchor behaviour, feedback options, payment method
configuration, name, login page) default to Stripe's own API defaults, so a
create leaves them out while they hold that default: documents saved before
these options existed keep their content hash, and with it their shared
configuration. An update sends them whatever they hold (see
`compile_configuration_update`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Final

from platform_service.portal.document import (
    STRIPE_BILLING_CYCLE_ANCHOR,
    STRIPE_TRIAL_UPDATE_BEHAVIOR,
    PortalProduct,
    PortalSettings,
    ProrateChanges,
)

# The seed page's "prorate changes" choices and the Stripe values they mean.
PRORATION_BEHAVIOR: Final[dict[ProrateChanges, str]] = {
    "off": "none",
    "charge_now": "always_invoice",
    "next_invoice": "create_prorations",
}
# Keys the caller may add (account tags) that must not split identical settings.
_NOT_HASHED: Final = frozenset({"metadata", "expand"})


def compile_configuration(settings: PortalSettings) -> dict[str, Any]:
    """`ConfigurationCreateParams` for the document, without `metadata` (the caller tags it)."""
    sm = settings.subscription_management
    features: dict[str, Any] = {}

    if sm.switch_plans or sm.update_quantities:
        allowed: list[str] = []
        if sm.switch_plans:
            allowed.append("price")
        if sm.update_quantities:
            allowed.append("quantity")
        if sm.promotion_codes_on_update:
            allowed.append("promotion_code")
        update: dict[str, Any] = {"enabled": True, "default_allowed_updates": allowed}
        if sm.products:
            update["products"] = [_product(p, sm.update_quantities) for p in sm.products]
        update["proration_behavior"] = PRORATION_BEHAVIOR[sm.prorate_changes]
        scheduled = sm.downgrades == "schedule_at_period_end"
        update["schedule_at_period_end"] = {
            "conditions": [{"type": c} for c in sm.schedule_conditions] if scheduled else []
        }
        if sm.trial_update_behavior != STRIPE_TRIAL_UPDATE_BEHAVIOR:
            update["trial_update_behavior"] = sm.trial_update_behavior
        if sm.billing_cycle_anchor != STRIPE_BILLING_CYCLE_ANCHOR:
            update["billing_cycle_anchor"] = sm.billing_cycle_anchor
        features["subscription_update"] = update
    else:
        features["subscription_update"] = {"enabled": False}
    if sm.pause_subscriptions:
        # Stripe's default duration (one month) stands: the document has no pause lengths.
        features["subscription_pause"] = {"enabled": True}

    c = settings.cancellations
    if c.cancel_subscriptions:
        features["subscription_cancel"] = {
            "enabled": True,
            "mode": c.cancel_mode,
            # Stripe only prorates an immediate cancel; at period end it is "none".
            "proration_behavior": c.cancel_proration if c.cancel_mode == "immediately" else "none",
            "cancellation_reason": {
                "enabled": c.cancellation_reason,
                # Required by Stripe even when disabled, and an empty list would
                # encode to nothing at all: "" is the API's explicit empty value.
                "options": list(c.cancellation_reason_options) or "",
            },
        }
        if c.cancellation_feedback_options:
            reason = features["subscription_cancel"]["cancellation_reason"]
            reason["feedback_options"] = list(c.cancellation_feedback_options)
    else:
        features["subscription_cancel"] = {"enabled": False}

    b = settings.customer_billing
    if b.billing_information:
        fields = b.allowed_fields
        features["customer_update"] = {
            "enabled": True,
            "allowed_updates": [f for f in fields.__struct_fields__ if getattr(fields, f)] or "",
        }
    else:
        features["customer_update"] = {"enabled": False}
    features["payment_method_update"] = {"enabled": b.payment_methods}
    if b.payment_methods and b.payment_method_configuration is not None:
        features["payment_method_update"]["payment_method_configuration"] = (
            b.payment_method_configuration
        )
    features["invoice_history"] = {"enabled": settings.invoice_history.invoice_history}

    custom = settings.customisation
    business_profile: dict[str, Any] = {}
    # No headline while it is the default: Stripe then shows its own sentence
    # with the account's business name, which is exactly the default.
    if custom.headline is not None:
        business_profile["headline"] = custom.headline
    if custom.privacy_policy_url is not None:
        business_profile["privacy_policy_url"] = custom.privacy_policy_url
    if custom.terms_of_service_url is not None:
        business_profile["terms_of_service_url"] = custom.terms_of_service_url
    params: dict[str, Any] = {"features": features, "business_profile": business_profile}
    if custom.default_return_url is not None:
        params["default_return_url"] = custom.default_return_url
    if custom.configuration_name is not None:
        params["name"] = custom.configuration_name
    if custom.login_page:
        params["login_page"] = {"enabled": True}
    return params


def _product(product: PortalProduct, update_quantities: bool) -> dict[str, Any]:
    compiled: dict[str, Any] = {"product": product.product, "prices": list(product.prices)}
    if update_quantities:
        # A product without limits is still adjustable while quantities are on;
        # say so explicitly rather than rely on Stripe's per-product default.
        quantity = product.adjustable_quantity
        limits: dict[str, Any] = {"enabled": True if quantity is None else quantity.enabled}
        # Limits bound an adjustable quantity; a fixed one has none to send.
        if quantity is not None and quantity.enabled:
            if quantity.minimum is not None:
                limits["minimum"] = quantity.minimum
            if quantity.maximum is not None:
                limits["maximum"] = quantity.maximum
        compiled["adjustable_quantity"] = limits
    return compiled


def compile_configuration_update(settings: PortalSettings) -> dict[str, Any]:
    """`ConfigurationUpdateParams` that bring an existing configuration to this document.

    An update only changes what it sends, so every field the document leaves
    empty is sent as `""` (Stripe's "unset"), and every option a create leaves
    at Stripe's default is sent with that default: otherwise a headline, URL,
    scheduling condition, pause or login page removed from the settings would
    stay live.
    """
    params = copy.deepcopy(compile_configuration(settings))
    profile = params["business_profile"]
    for key in ("headline", "privacy_policy_url", "terms_of_service_url"):
        profile.setdefault(key, "")
    params.setdefault("default_return_url", "")
    params.setdefault("name", "")
    params.setdefault("login_page", {"enabled": False})
    features = params["features"]
    update = features["subscription_update"]
    if update["enabled"]:
        update.setdefault("products", "")
        schedule = update["schedule_at_period_end"]
        schedule["conditions"] = schedule["conditions"] or ""
        update.setdefault("trial_update_behavior", STRIPE_TRIAL_UPDATE_BEHAVIOR)
        update.setdefault("billing_cycle_anchor", STRIPE_BILLING_CYCLE_ANCHOR)
    features.setdefault("subscription_pause", {"enabled": False})
    cancel = features["subscription_cancel"]
    if cancel["enabled"]:
        cancel["cancellation_reason"].setdefault("feedback_options", "")
    payment = features["payment_method_update"]
    if payment["enabled"]:
        payment.setdefault("payment_method_configuration", "")
    return params


def content_hash(compiled: dict[str, Any]) -> str:
    """sha256 of the params' canonical JSON, ignoring `metadata` and `expand`.

    Equal hashes mean equal configurations, so accounts on the same Stripe
    account with identical settings can share one configuration.
    """
    relevant = {k: v for k, v in compiled.items() if k not in _NOT_HASHED}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def cancel_flow_retention(settings: PortalSettings) -> dict[str, Any] | None:
    """`flow_data.subscription_cancel.retention` for cancel sessions, or None when not offered.

    The retention coupon is not a configuration field (stripe-contract.md §1.7),
    so it rides on every cancel flow the service opens while the option is on.
    """
    c = settings.cancellations
    if not (c.cancel_subscriptions and c.retention_coupon and c.retention_coupon_id):
        return None
    return {"type": "coupon_offer", "coupon_offer": {"coupon": c.retention_coupon_id}}
