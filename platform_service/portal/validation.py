"""Rules a portal settings document must satisfy before it is saved or compiled.

`validate` checks everything that needs no I/O and names the offending field
by dotted path, so the API can answer 422 with `param`. What needs Stripe or
the database (products, prices and the coupon existing on the right account,
the custom domain being free) is listed by `referenced_ids` for the service
to check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final, Literal

import msgspec

from platform_service.portal.document import (
    MAX_PRODUCTS,
    STRIPE_BILLING_CYCLE_ANCHOR,
    STRIPE_TRIAL_UPDATE_BEHAVIOR,
    PortalSettings,
)
from platform_service.urls import check_url

IssueCode = Literal[
    "invalid_value",
    "requires_subscription_updates",
    "products_required",
    "too_many_products",
    "prices_required",
    "duplicate",
    "invalid_id",
    "invalid_quantity",
    "conditions_required",
    "requires_cancel",
    "requires_immediate_cancel",
    "coupon_required",
    "options_required",
    "fields_required",
    "blank",
    "too_long",
    "invalid_url",
    "insecure_url",
    "invalid_hostname",
    "required",
    "requires_payment_methods",
]

# The Dashboard's limit on a headline someone sets (the API documents more).
MAX_HEADLINE_LENGTH: Final = 60
# Stripe's limit on its free-text parameters; it documents none lower for `name`.
MAX_CONFIGURATION_NAME_LENGTH: Final = 5000

_ID_RE: Final = re.compile(r"[^\s/]{1,255}")
_PMC_RE: Final = re.compile(r"pmc_[A-Za-z0-9]{1,251}")
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
_PATH_RE: Final = re.compile(r"at `\$\.?(?P<path>[^`]*)`")


class SettingsIssue(msgspec.Struct, kw_only=True, frozen=True):
    """One broken rule: `param` is the dotted path of the field to change."""

    param: str
    code: IssueCode
    message: str


class ReferencedId(msgspec.Struct, kw_only=True, frozen=True):
    """A Stripe id the settings use, which must exist where the configuration lives.

    For a price, `product` is the product it must belong to (Stripe rejects a
    price listed under another product).
    """

    kind: Literal["product", "price", "coupon"]
    id: str
    param: str
    product: str | None = None


def validate(settings: PortalSettings) -> list[SettingsIssue]:
    """Every rule the document breaks, in document order; empty when it is valid."""
    # Structs built in Python skip msgspec's type checks; a round trip applies
    # them (enums, types) with the same messages a decoded request would get.
    try:
        msgspec.convert(msgspec.to_builtins(settings), PortalSettings)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH_RE.search(text)
        param = match.group("path") if match else ""
        return [SettingsIssue(param=param, code="invalid_value", message=text)]

    issues: list[SettingsIssue] = []
    issues += _subscription_management(settings)
    issues += _cancellations(settings)
    issues += _customer_billing(settings)
    issues += _customisation(settings)
    return issues


def _issue(param: str, code: IssueCode, message: str) -> SettingsIssue:
    return SettingsIssue(param=param, code=code, message=message)


def _subscription_management(settings: PortalSettings) -> list[SettingsIssue]:
    sm = settings.subscription_management
    p = "subscription_management"
    issues: list[SettingsIssue] = []
    updates_on = sm.switch_plans or sm.update_quantities
    needs = "needs switch_plans or update_quantities on: "
    if not updates_on:
        if sm.prorate_changes != "off":
            issues.append(
                _issue(
                    f"{p}.prorate_changes",
                    "requires_subscription_updates",
                    f"prorate_changes {needs}without them there are no changes to prorate.",
                )
            )
        if sm.downgrades != "update_immediately":
            issues.append(
                _issue(
                    f"{p}.downgrades",
                    "requires_subscription_updates",
                    f"Scheduling downgrades {needs}without them customers cannot downgrade.",
                )
            )
        if sm.promotion_codes_on_update:
            issues.append(
                _issue(
                    f"{p}.promotion_codes_on_update",
                    "requires_subscription_updates",
                    f"promotion_codes_on_update {needs}codes are entered while updating a "
                    "subscription.",
                )
            )
        if sm.trial_update_behavior != STRIPE_TRIAL_UPDATE_BEHAVIOR:
            issues.append(
                _issue(
                    f"{p}.trial_update_behavior",
                    "requires_subscription_updates",
                    f"trial_update_behavior {needs}it decides what an update does to a trial.",
                )
            )
        if sm.billing_cycle_anchor != STRIPE_BILLING_CYCLE_ANCHOR:
            issues.append(
                _issue(
                    f"{p}.billing_cycle_anchor",
                    "requires_subscription_updates",
                    f"billing_cycle_anchor {needs}it decides where an update puts the billing "
                    "cycle.",
                )
            )
    if sm.switch_plans and not any(product.prices for product in sm.products):
        issues.append(
            _issue(
                f"{p}.products",
                "products_required",
                "switch_plans needs at least one product with prices to switch to.",
            )
        )
    if len(sm.products) > MAX_PRODUCTS:
        issues.append(
            _issue(
                f"{p}.products",
                "too_many_products",
                f"{len(sm.products)} products listed; Stripe allows at most {MAX_PRODUCTS}.",
            )
        )
    seen_products: dict[str, int] = {}
    seen_prices: dict[str, str] = {}
    for i, product in enumerate(sm.products):
        at = f"{p}.products[{i}]"
        if not _ID_RE.fullmatch(product.product):
            issues.append(_bad_id(f"{at}.product", "product", product.product))
        elif product.product in seen_products:
            issues.append(
                _issue(
                    f"{at}.product",
                    "duplicate",
                    f"Product {product.product} is already listed at "
                    f"products[{seen_products[product.product]}]; list each product once.",
                )
            )
        else:
            seen_products[product.product] = i
        if not product.prices:
            issues.append(
                _issue(
                    f"{at}.prices",
                    "prices_required",
                    f"Product {product.product} lists no prices; give at least one.",
                )
            )
        for j, price in enumerate(product.prices):
            if not _ID_RE.fullmatch(price):
                issues.append(_bad_id(f"{at}.prices[{j}]", "price", price))
            elif price in seen_prices:
                issues.append(
                    _issue(
                        f"{at}.prices[{j}]",
                        "duplicate",
                        f"Price {price} is listed twice (also under {seen_prices[price]}).",
                    )
                )
            else:
                seen_prices[price] = f"{at}.prices"
        quantity = product.adjustable_quantity
        if quantity is not None:
            if quantity.minimum is not None and quantity.minimum < 0:
                issues.append(
                    _issue(
                        f"{at}.adjustable_quantity.minimum",
                        "invalid_quantity",
                        f"minimum is {quantity.minimum}; quantities cannot be negative.",
                    )
                )
            if quantity.maximum is not None and quantity.maximum < 1:
                issues.append(
                    _issue(
                        f"{at}.adjustable_quantity.maximum",
                        "invalid_quantity",
                        f"maximum is {quantity.maximum}; it must be at least 1.",
                    )
                )
            if (
                quantity.minimum is not None
                and quantity.maximum is not None
                and quantity.minimum > quantity.maximum
            ):
                issues.append(
                    _issue(
                        f"{at}.adjustable_quantity.maximum",
                        "invalid_quantity",
                        f"maximum {quantity.maximum} is below minimum {quantity.minimum}.",
                    )
                )
    if sm.downgrades == "schedule_at_period_end" and not sm.schedule_conditions:
        issues.append(
            _issue(
                f"{p}.schedule_conditions",
                "conditions_required",
                "Scheduling downgrades at period end needs at least one condition "
                "(decreasing_item_amount, shortening_interval).",
            )
        )
    issues += _duplicates(f"{p}.schedule_conditions", sm.schedule_conditions)
    return issues


def _cancellations(settings: PortalSettings) -> list[SettingsIssue]:
    c = settings.cancellations
    p = "cancellations"
    issues: list[SettingsIssue] = []
    if not c.cancel_subscriptions:
        needs = "needs cancel_subscriptions on; turn it off too, or allow cancelling."
        if c.cancellation_reason:
            issues.append(
                _issue(
                    f"{p}.cancellation_reason", "requires_cancel", "cancellation_reason " + needs
                )
            )
        if c.retention_coupon:
            issues.append(
                _issue(f"{p}.retention_coupon", "requires_cancel", "retention_coupon " + needs)
            )
        if c.cancel_proration != "none":
            issues.append(
                _issue(f"{p}.cancel_proration", "requires_cancel", "cancel_proration " + needs)
            )
    if c.cancel_proration != "none" and c.cancel_mode != "immediately":
        issues.append(
            _issue(
                f"{p}.cancel_proration",
                "requires_immediate_cancel",
                "cancel_proration create_prorations needs cancel_mode immediately: cancelling "
                "at the period end never prorates.",
            )
        )
    if c.cancellation_reason and not c.cancellation_reason_options:
        issues.append(
            _issue(
                f"{p}.cancellation_reason_options",
                "options_required",
                "cancellation_reason is on but no reason options are listed.",
            )
        )
    issues += _duplicates(f"{p}.cancellation_reason_options", c.cancellation_reason_options)
    if c.retention_coupon and c.retention_coupon_id is None:
        issues.append(
            _issue(
                f"{p}.retention_coupon_id",
                "coupon_required",
                "retention_coupon is on but no retention_coupon_id is set.",
            )
        )
    if c.retention_coupon_id is not None and not _ID_RE.fullmatch(c.retention_coupon_id):
        issues.append(_bad_id(f"{p}.retention_coupon_id", "coupon", c.retention_coupon_id))
    feedback = c.cancellation_feedback_options
    for i, option in enumerate(feedback):
        if not _ID_RE.fullmatch(option):
            issues.append(
                _bad_id(f"{p}.cancellation_feedback_options[{i}]", "feedback option", option)
            )
    issues += _duplicates(f"{p}.cancellation_feedback_options", feedback)
    return issues


def _customer_billing(settings: PortalSettings) -> list[SettingsIssue]:
    b = settings.customer_billing
    fields = b.allowed_fields
    issues: list[SettingsIssue] = []
    if b.billing_information and not any(getattr(fields, f) for f in fields.__struct_fields__):
        issues.append(
            _issue(
                "customer_billing.allowed_fields",
                "fields_required",
                "billing_information is on but no customer field may be updated; allow at "
                "least one or turn billing_information off.",
            )
        )
    pmc = b.payment_method_configuration
    if pmc is not None:
        param = "customer_billing.payment_method_configuration"
        if not _PMC_RE.fullmatch(pmc):
            issues.append(
                _issue(
                    param,
                    "invalid_id",
                    f"{pmc!r} is not a payment method configuration id (pmc_…); use null for "
                    "the account's default.",
                )
            )
        elif not b.payment_methods:
            issues.append(
                _issue(
                    param,
                    "requires_payment_methods",
                    "payment_method_configuration needs payment_methods on: it picks the "
                    "methods customers may add there.",
                )
            )
    return issues


def _customisation(settings: PortalSettings) -> list[SettingsIssue]:
    c = settings.customisation
    p = "customisation"
    issues: list[SettingsIssue] = []
    if c.headline is not None:
        if not c.headline.strip():
            issues.append(
                _issue(
                    f"{p}.headline",
                    "blank",
                    "headline is blank; set text or null for Stripe's default sentence.",
                )
            )
        elif len(c.headline) > MAX_HEADLINE_LENGTH:
            issues.append(
                _issue(
                    f"{p}.headline",
                    "too_long",
                    f"headline is {len(c.headline)} characters; at most {MAX_HEADLINE_LENGTH}.",
                )
            )
    for name in ("terms_of_service_url", "privacy_policy_url", "default_return_url"):
        url = getattr(c, name)
        if url is not None:
            problem = check_url(url)
            if problem is not None:
                issues.append(_issue(f"{p}.{name}", problem[0], f"{name}: {problem[1]}"))
    if c.custom_domain is not None:
        domain_problem = check_hostname(c.custom_domain)
        if domain_problem is not None:
            issues.append(
                _issue(f"{p}.custom_domain", "invalid_hostname", f"custom_domain: {domain_problem}")
            )
    if c.business_name is None or not c.business_name.strip():
        issues.append(
            _issue(
                f"{p}.business_name",
                "required",
                "business_name is required: it is the public name customers see.",
            )
        )
    if c.configuration_name is not None:
        if not c.configuration_name.strip():
            issues.append(
                _issue(
                    f"{p}.configuration_name",
                    "blank",
                    "configuration_name is blank; set text or null for no name.",
                )
            )
        elif len(c.configuration_name) > MAX_CONFIGURATION_NAME_LENGTH:
            issues.append(
                _issue(
                    f"{p}.configuration_name",
                    "too_long",
                    f"configuration_name is {len(c.configuration_name)} characters; at most "
                    f"{MAX_CONFIGURATION_NAME_LENGTH}.",
                )
            )
    return issues


def _duplicates(param: str, values: Sequence[str]) -> list[SettingsIssue]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if not repeated:
        return []
    return [_issue(param, "duplicate", f"Listed more than once: {', '.join(repeated)}.")]


def _bad_id(param: str, kind: str, value: str) -> SettingsIssue:
    return _issue(
        param,
        "invalid_id",
        f"{value!r} is not a {kind} id: ids are 1-255 characters without spaces or '/'.",
    )


def check_hostname(value: str) -> str | None:
    """Why a custom domain is unacceptable, or None when it is a valid subdomain name."""
    if "://" in value or "/" in value:
        return f"{value!r} must be a host name only, like billing.example.com (no scheme or path)."
    if value != value.strip() or not value:
        return f"{value!r} is empty or has surrounding whitespace."
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        pass
    else:
        return f"{value!r} is an IP address; Stripe needs a domain name."
    if ":" in value:
        return f"{value!r} must not include a port."
    if value.endswith("."):
        return f"{value!r} must not end with a dot."
    if not value.isascii():
        return f"{value!r} has non-ASCII characters; use its xn-- (punycode) form."
    if len(value) > 253:
        return f"{value!r} is longer than 253 characters."
    labels = value.split(".")
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            return (
                f"{value!r} has an invalid label {label!r}: labels are 1-63 letters, digits "
                "or hyphens, not starting or ending with a hyphen."
            )
    if labels[-1].isdigit():
        return f"{value!r} ends in a numeric label; that is not a domain name."
    if len(labels) < 3:
        # Stripe's custom-domain guide: you "must specify a subdomain of your
        # existing domain" (payments.example.com, not example.com).
        return f"{value!r} is not a subdomain; use one like billing.{value}."
    return None


def normalize_custom_domain(value: str) -> str:
    """The form custom domains are compared in for uniqueness (DNS is case-insensitive)."""
    return value.strip().lower()


def referenced_ids(settings: PortalSettings) -> list[ReferencedId]:
    """Stripe ids the compiled configuration or the cancel flows will use, to check exist.

    Products and prices count only while they are compiled (switch_plans or
    update_quantities on); the coupon only while the retention coupon is offered.
    """
    refs: list[ReferencedId] = []
    sm = settings.subscription_management
    if sm.switch_plans or sm.update_quantities:
        for i, product in enumerate(sm.products):
            at = f"subscription_management.products[{i}]"
            refs.append(ReferencedId(kind="product", id=product.product, param=f"{at}.product"))
            refs.extend(
                ReferencedId(
                    kind="price", id=price, param=f"{at}.prices[{j}]", product=product.product
                )
                for j, price in enumerate(product.prices)
            )
    c = settings.cancellations
    if c.cancel_subscriptions and c.retention_coupon and c.retention_coupon_id is not None:
        refs.append(
            ReferencedId(
                kind="coupon", id=c.retention_coupon_id, param="cancellations.retention_coupon_id"
            )
        )
    return refs
