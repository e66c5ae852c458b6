"""Console pages of portal settings: an account's form (and the platform defaults'), its
sync state with Stripe, its versions with their diffs, and restoring one.

The form mirrors the seed page's sections in their order. A save sends only the fields
whose submitted value differs from the effective one, so a field nobody touched stays
inherited; it goes through the same services as the JSON API (`PATCH` with `reset`
paths, the versions' restore, the platform's `PUT`), and a refused save (the API's 422)
is shown beside the field its `param` names, with nothing saved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
from babel.numbers import format_currency, get_currency_precision
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from platform_service.accounts import service as accounts
from platform_service.auth.guard import ensure_seller_may_edit
from platform_service.auth.keys import Caller
from platform_service.deps import (
    AfterCommitDep,
    DbSession,
    GatewayDep,
    SessionMakerDep,
    SettingsDep,
)
from platform_service.errors import Forbidden, NotFound, ValidationFailed
from platform_service.portal import defaults as platform_defaults
from platform_service.portal import settings as portal_settings
from platform_service.portal.document import (
    CANCELLATION_REASONS,
    SCHEDULE_CONDITIONS,
    AdjustableQuantity,
    PortalProduct,
    PortalSettings,
    PortalSettingsPatch,
    apply_patch,
    default_headline,
    leaf_values,
    overridden_paths,
)
from platform_service.portal.effective import diff, dump
from platform_service.portal.schemas import FieldInfo
from platform_service.portal.sync import configuration_home, stripe_account_header
from platform_service.portal.validation import MAX_HEADLINE_LENGTH
from platform_service.portal.versions import list_versions
from platform_service.settings import Settings
from platform_service.stripe.errors import StripeGatewayError
from platform_service.stripe.gateway import StripeGateway
from platform_service.web.common import account_caller, admin_caller
from platform_service.web.i18n import N_, current_language, gettext
from platform_service.web.render import page

Kind = Literal["toggle", "choice", "choices", "text", "url", "products", "coupon", "ids", "name"]

# ------------------------------------------------------------------ the form's fields


@dataclass(frozen=True)
class Field:
    """One control of the form: the document path it edits and how it reads."""

    path: str
    kind: Kind
    label: str
    hint: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    # Leaves of a group edited as one control (the allowed customer fields).
    group: bool = False

    @property
    def id(self) -> str:
        return self.path.replace(".", "-").replace("_", "-")


NEEDS_UPDATES = N_("Needs Switch plans or Update quantities on.")
NEEDS_CANCEL = N_("Needs Cancel subscriptions on.")

SECTIONS: Final[tuple[tuple[str, str, tuple[Field, ...]], ...]] = (
    (
        "subscription_management",
        N_("Subscription management"),
        (
            Field("subscription_management.switch_plans", "toggle", N_("Switch plans")),
            Field(
                "subscription_management.products",
                "products",
                N_("Products and prices offered"),
                N_(
                    "Switch plans needs at least one product with a price; Stripe allows at "
                    "most 10 products."
                ),
            ),
            Field("subscription_management.update_quantities", "toggle", N_("Update quantities")),
            Field(
                "subscription_management.prorate_changes",
                "choice",
                N_("Prorate subscription changes"),
                NEEDS_UPDATES,
                (
                    ("off", N_("Off")),
                    ("charge_now", N_("Prorate and invoice immediately")),
                    ("next_invoice", N_("Prorate at the end of the billing period")),
                ),
            ),
            Field(
                "subscription_management.downgrades",
                "choice",
                N_("Manage downgrades"),
                NEEDS_UPDATES,
                (
                    ("update_immediately", N_("Update immediately")),
                    ("schedule_at_period_end", N_("Schedule at the end of the billing period")),
                ),
            ),
            Field(
                "subscription_management.schedule_conditions",
                "choices",
                N_("Downgrades to schedule"),
                N_("While downgrades are scheduled, pick at least one."),
                (
                    ("decreasing_item_amount", N_("A lower amount")),
                    ("shortening_interval", N_("A shorter billing interval")),
                ),
            ),
            Field(
                "subscription_management.promotion_codes_on_update",
                "toggle",
                N_("Use promotion codes"),
                NEEDS_UPDATES,
            ),
            Field(
                "subscription_management.trial_update_behavior",
                "choice",
                N_("Updating a subscription on trial"),
                NEEDS_UPDATES,
                (
                    ("end_trial", N_("Ends the trial")),
                    ("continue_trial", N_("Continues the trial")),
                ),
            ),
            Field(
                "subscription_management.billing_cycle_anchor",
                "choice",
                N_("Billing cycle anchor on update"),
                NEEDS_UPDATES,
                (
                    ("unchanged", N_("Unchanged")),
                    ("now", N_("Reset to the update date")),
                ),
            ),
            Field(
                "subscription_management.pause_subscriptions", "toggle", N_("Pause subscriptions")
            ),
        ),
    ),
    (
        "cancellations",
        N_("Cancellations"),
        (
            Field("cancellations.cancel_subscriptions", "toggle", N_("Cancel subscriptions")),
            Field(
                "cancellations.cancel_mode",
                "choice",
                N_("When the subscription ends"),
                None,
                (
                    ("at_period_end", N_("At the end of the billing period")),
                    ("immediately", N_("Immediately")),
                ),
            ),
            Field(
                "cancellations.cancel_proration",
                "choice",
                N_("Prorate immediate cancellations"),
                N_("Needs Cancel subscriptions on and cancelling immediately."),
                (
                    ("none", N_("No proration")),
                    ("create_prorations", N_("Credit the unused time")),
                ),
            ),
            Field(
                "cancellations.cancellation_reason",
                "toggle",
                N_("Cancellation reason"),
                NEEDS_CANCEL,
            ),
            Field(
                "cancellations.cancellation_reason_options",
                "choices",
                N_("Reasons offered"),
                N_("While Cancellation reason is on, pick at least one."),
                (
                    ("too_expensive", N_("It's too expensive")),
                    ("missing_features", N_("Some features are missing")),
                    ("switched_service", N_("I'm switching to another service")),
                    ("unused", N_("I don't use it enough")),
                    ("customer_service", N_("Customer service was below expectations")),
                    ("too_complex", N_("It's too complicated")),
                    ("low_quality", N_("Quality was below expectations")),
                    ("other", N_("Another reason")),
                ),
            ),
            Field(
                "cancellations.cancellation_feedback_options",
                "ids",
                N_("Custom feedback option ids"),
                N_("Ids of the Stripe account's own feedback options, separated by commas."),
            ),
            Field(
                "cancellations.retention_coupon",
                "toggle",
                N_("Retention coupons"),
                N_("Needs Cancel subscriptions on and a coupon chosen below."),
            ),
            Field(
                "cancellations.retention_coupon_id",
                "coupon",
                N_("Retention coupon"),
                N_("Needed while Retention coupons is on."),
            ),
        ),
    ),
    (
        "customer_billing",
        N_("Customer billing"),
        (
            Field("customer_billing.billing_information", "toggle", N_("Billing information")),
            Field(
                "customer_billing.allowed_fields",
                "choices",
                N_("Details customers may update"),
                N_("While Billing information is on, allow at least one."),
                (
                    ("name", N_("Name")),
                    ("email", N_("Email")),
                    ("address", N_("Billing address")),
                    ("phone", N_("Phone number")),
                    ("shipping", N_("Shipping address")),
                    ("tax_id", N_("Tax ID")),
                ),
                group=True,
            ),
            Field("customer_billing.payment_methods", "toggle", N_("Payment methods")),
            Field(
                "customer_billing.payment_method_configuration",
                "text",
                N_("Payment method configuration"),
                N_("A pmc_… id; needs Payment methods on. Empty: the account's default."),
            ),
        ),
    ),
    (
        "customisation",
        N_("Customize the portal"),
        (
            Field(
                "customisation.headline",
                "text",
                N_("Headline"),
                N_("At most 60 characters. Empty: Stripe's default sentence."),
            ),
            Field(
                "customisation.terms_of_service_url",
                "url",
                N_("Link to terms of service"),
                N_("An https:// address."),
            ),
            Field(
                "customisation.privacy_policy_url",
                "url",
                N_("Link to privacy policy"),
                N_("An https:// address."),
            ),
            Field(
                "customisation.default_return_url",
                "url",
                N_("Default redirect link"),
                N_("Where customers go when they leave the portal. An https:// address."),
            ),
            Field(
                "customisation.custom_domain",
                "text",
                N_("Custom domain"),
                N_("A subdomain such as billing.example.com; one per account."),
            ),
            Field("customisation.business_name", "name", N_("Business name")),
            Field(
                "customisation.configuration_name",
                "text",
                N_("Configuration name"),
                N_("For people reading the configuration; customers never see it."),
            ),
            Field(
                "customisation.login_page",
                "toggle",
                N_("Login page"),
                N_("Stripe then returns a shareable login link, shown below."),
            ),
        ),
    ),
    (
        "invoice_history",
        N_("Invoice history"),
        (Field("invoice_history.invoice_history", "toggle", N_("Show invoice history")),),
    ),
)
FIELDS: Final = {f.path: f for _, _, fields in SECTIONS for f in fields}
# Each account sets these itself: the platform page shows them without an input.
ACCOUNT_ONLY: Final = frozenset(f"customisation.{name}" for name in platform_defaults.ACCOUNT_ONLY)

APPLIES_LABELS: Final = {
    "stripe_api": N_("Sent to Stripe"),
    "sessions_opened_here": N_("Only in sessions this service opens"),
    "stripe_dashboard": N_("Set in Stripe's Dashboard"),
    "preview_only": N_("Preview only"),
}
ERROR_MESSAGES: Final = {
    "requires_subscription_updates": N_("Turn on Switch plans or Update quantities first."),
    "products_required": N_("Pick at least one product with a price to switch to."),
    "too_many_products": N_("Stripe allows at most 10 products."),
    "prices_required": N_("Pick at least one price for each product offered."),
    "duplicate": N_("Listed more than once."),
    "invalid_id": N_("This is not a valid id."),
    "invalid_quantity": N_("Check the minimum and maximum quantities."),
    "conditions_required": N_("Pick at least one condition."),
    "requires_cancel": N_("Turn on Cancel subscriptions first."),
    "requires_immediate_cancel": N_("Prorating needs the subscription to end immediately."),
    "coupon_required": N_("Choose a coupon."),
    "options_required": N_("Pick at least one reason."),
    "fields_required": N_("Allow at least one detail, or turn Billing information off."),
    "blank": N_("Enter some text, or leave the field empty."),
    "too_long": N_("This is too long."),
    "invalid_url": N_("Enter a valid https:// address."),
    "insecure_url": N_("Enter a valid https:// address."),
    "invalid_hostname": N_("Enter a subdomain such as billing.example.com."),
    "required": N_("Required."),
    "requires_payment_methods": N_("Turn on Payment methods first."),
    "custom_domain_taken": N_("Another account already uses this domain."),
    "resource_missing": N_("Not found on Stripe where this configuration lives."),
    "price_not_in_product": N_("This price belongs to another product."),
    "account_only": N_("Each account sets this itself."),
    "not_a_number": N_("Enter a whole number."),
}
INTERVALS: Final = {
    "day": N_("per day"),
    "week": N_("per week"),
    "month": N_("per month"),
    "year": N_("per year"),
}
_INDEX = re.compile(r"\[\d+\].*$")


# ------------------------------------------------------------------ reading Stripe


@dataclass
class CatalogueProduct:
    id: str
    name: str
    prices: list[tuple[str, str]]  # (price id, how it reads)


@dataclass
class Catalogue:
    products: list[CatalogueProduct]
    coupons: list[tuple[str, str]]
    unavailable: bool = False


def _money(minor: int, currency: str) -> str:
    """An amount in the currency's smallest unit (Stripe's), as the page's language writes it."""
    major = minor / 10 ** get_currency_precision(currency)
    return format_currency(major, currency, locale=current_language())


def _price_label(price: dict[str, Any]) -> str:
    amount = price.get("unit_amount")
    currency = str(price.get("currency") or "").upper()
    text = price.get("nickname") or price["id"]
    if amount is not None and currency:
        text = _money(amount, currency)
    recurring = price.get("recurring") or {}
    interval = INTERVALS.get(str(recurring.get("interval")))
    return f"{text} {gettext(interval)}" if interval else str(text)


def _coupon_label(coupon: dict[str, Any]) -> str:
    off = coupon.get("percent_off")
    if off is not None:
        amount = f"{off:g} %"
    elif coupon.get("amount_off") is not None:
        amount = _money(coupon["amount_off"], str(coupon.get("currency") or "usd").upper())
    else:
        amount = ""
    name = coupon.get("name") or coupon["id"]
    return f"{name} ({amount})" if amount else str(name)


async def read_catalogue(
    gateway: StripeGateway, header: str | None, settings: PortalSettings
) -> Catalogue:
    """Products with their recurring prices, and coupons, where the configuration lives.

    What the settings already use is listed even when Stripe no longer lists it, so a
    save never drops it unseen.
    """
    try:
        products = await gateway.list_products(stripe_account=header, active=True)
        prices = await gateway.list_recurring_prices(stripe_account=header, active=True)
        coupons = await gateway.list_coupons(stripe_account=header)
        unavailable = False
    except StripeGatewayError:
        products, prices, coupons, unavailable = [], [], [], True
    by_product: dict[str, list[tuple[str, str]]] = {}
    for price in prices:
        by_product.setdefault(str(price.get("product")), []).append(
            (price["id"], _price_label(price))
        )
    listed = [
        CatalogueProduct(p["id"], str(p.get("name") or p["id"]), by_product.get(p["id"], []))
        for p in products
    ]
    known = {p.id: p for p in listed}
    for chosen in settings.subscription_management.products:
        entry = known.get(chosen.product)
        if entry is None:
            entry = CatalogueProduct(chosen.product, chosen.product, [])
            listed.append(entry)
            known[entry.id] = entry
        ids = {price_id for price_id, _ in entry.prices}
        entry.prices += [(p, p) for p in chosen.prices if p not in ids]
    coupon_choices = [(c["id"], _coupon_label(c)) for c in coupons if c.get("valid", True)]
    chosen_coupon = settings.cancellations.retention_coupon_id
    if chosen_coupon and chosen_coupon not in {c for c, _ in coupon_choices}:
        coupon_choices.append((chosen_coupon, chosen_coupon))
    return Catalogue(listed, coupon_choices, unavailable)


# ------------------------------------------------------------------ reading the form


class FormProblem(Exception):
    def __init__(self, param: str, code: str) -> None:
        super().__init__(param)
        self.param = param
        self.code = code


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _whole_number(form: Any, name: str, param: str) -> int | None:
    value = _text(form, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise FormProblem(param, "not_a_number") from None


def _products(form: Any, current: list[PortalProduct], catalogue: Catalogue) -> list[PortalProduct]:
    """The products with at least one price ticked: those already offered first, in order."""
    order = [p.product for p in current] + [
        p.id for p in catalogue.products if p.id not in {c.product for c in current}
    ]
    before = {p.product: p for p in current}
    chosen: list[PortalProduct] = []
    for product_id in order:
        prices = [p for p in form.getall(f"price:{product_id}", []) if isinstance(p, str)]
        if not prices:
            continue
        at = f"subscription_management.products[{len(chosen)}].adjustable_quantity"
        minimum = _whole_number(form, f"min:{product_id}", f"{at}.minimum")
        maximum = _whole_number(form, f"max:{product_id}", f"{at}.maximum")
        old = before.get(product_id)
        quantity: AdjustableQuantity | None
        if minimum is None and maximum is None:
            kept = old.adjustable_quantity if old is not None else None
            unbounded = kept is None or (kept.minimum is None and kept.maximum is None)
            quantity = kept if unbounded else None
        else:
            quantity = AdjustableQuantity(enabled=True, minimum=minimum, maximum=maximum)
        chosen.append(
            PortalProduct(product=product_id, prices=prices, adjustable_quantity=quantity)
        )
    return chosen


def read_form(
    form: Any, current: PortalSettings, catalogue: Catalogue, *, platform: bool
) -> dict[str, Any]:
    """Every editable leaf's submitted value, by dotted path (a whole form is always sent)."""
    values: dict[str, Any] = {}
    for field in FIELDS.values():
        path, name = field.path, field.path
        if field.kind == "name" or (platform and path in ACCOUNT_ONLY):
            continue
        if field.kind == "toggle":
            values[path] = form.get(name) == "on"
        elif field.kind == "choice":
            values[path] = form.get(name)
        elif field.kind == "choices" and field.group:
            ticked = set(form.getall(name, []))
            for value, _ in field.choices:
                values[f"{path}.{value}"] = value in ticked
        elif field.kind == "choices":
            ticked = set(form.getall(name, []))
            order = CANCELLATION_REASONS if path.endswith("options") else SCHEDULE_CONDITIONS
            values[path] = [value for value in order if value in ticked]
        elif field.kind == "ids":
            raw = _text(form, name) or ""
            values[path] = [part.strip() for part in raw.split(",") if part.strip()]
        elif field.kind == "products":
            values[path] = _products(form, current.subscription_management.products, catalogue)
        else:  # text, url, coupon: empty means none
            raw = form.get(name)
            text = raw if isinstance(raw, str) else ""
            # A headline keeps its spaces: the service judges a blank one.
            values[path] = (text or None) if path == "customisation.headline" else _text(form, name)
    return values


def changes_from(values: dict[str, Any], current: PortalSettings) -> PortalSettingsPatch:
    """A patch of the leaves whose value differs from the effective document's."""
    now = leaf_values(current)
    nested: dict[str, Any] = {}
    for path, value in values.items():
        if dump(value) == dump(now[path]):
            continue
        node = nested
        *groups, leaf = path.split(".")
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = dump(value)
    try:
        return msgspec.convert(nested, PortalSettingsPatch)
    except msgspec.ValidationError as exc:
        found = re.search(r"`\$\.([^`]*)`", str(exc))
        raise FormProblem(found.group(1) if found else "", "invalid_value") from None


def shown_values(current: PortalSettings, values: dict[str, Any] | None) -> dict[str, Any]:
    """What the inputs show: the effective document, or what was sent when it was refused."""
    shown = leaf_values(current)
    if values:
        shown.update(values)
    return shown


# ------------------------------------------------------------------ the page's view


def field_of(param: str | None) -> str | None:
    """The form field a 422's `param` names (`…products[0].prices` is the products field)."""
    if not param:
        return None
    path = _INDEX.sub("", param)
    while path:
        if path in FIELDS:
            return path
        path = path.rpartition(".")[0]
    return None


def _default_text(field: Field, seed: dict[str, Any], business_name: str | None) -> str:
    if field.kind == "name":
        return ""
    if field.path == "customisation.headline":
        return default_headline(business_name) if business_name else gettext("Stripe's sentence")
    if field.group:
        on = [gettext(label) for value, label in field.choices if seed[f"{field.path}.{value}"]]
        return ", ".join(on)
    value = seed[field.path]
    if field.kind == "toggle":
        return gettext("On") if value else gettext("Off")
    if field.kind == "choice":
        return next((gettext(label) for v, label in field.choices if v == value), str(value))
    if field.kind == "choices":
        return (
            gettext("all")
            if len(value) == len(field.choices)
            else ", ".join(gettext(label) for v, label in field.choices if v in value)
        )
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else gettext("none")
    return gettext("none") if value in (None, "") else str(value)


def _source(info: FieldInfo | None, *, platform: bool) -> tuple[str, str]:
    """The marker's css class and words: inherited (from where) or overridden."""
    source = info.source if info is not None else "default"
    if platform:
        if source == "platform":
            return "overridden", gettext("Set by the platform")
        return "inherited", gettext("Default")
    if source == "account":
        return "overridden", gettext("Overridden")
    if source == "platform":
        return "inherited", gettext("Inherited from the platform")
    if source in ("account_profile", "platform_profile"):
        return "inherited", gettext("Read from Stripe")
    return "inherited", gettext("Inherited: default")


def build_sections(
    *,
    current: PortalSettings,
    fields: dict[str, FieldInfo],
    overridden: frozenset[str],
    values: dict[str, Any],
    errors: dict[str, tuple[str, str]],
    platform: bool,
) -> list[dict[str, Any]]:
    """The template's view of every section and field."""
    seed = leaf_values(PortalSettings())
    business_name = current.customisation.business_name
    sections = []
    for key, title, section_fields in SECTIONS:
        rows = []
        for field in section_fields:
            leaves = [p for p in fields if p == field.path or p.startswith(field.path + ".")]
            info = fields.get(field.path) or (fields.get(leaves[0]) if leaves else None)
            set_here = any(p in overridden for p in leaves)
            marker_class, marker = _source(info, platform=platform)
            if field.group and set_here:
                marker_class, marker = _source(
                    FieldInfo(source="platform" if platform else "account", inherited=False),
                    platform=platform,
                )
            applies = info.applies if info is not None else None
            value: Any
            if field.group:
                value = [v for v, _ in field.choices if values[f"{field.path}.{v}"]]
            else:
                value = values.get(field.path)
            problem = errors.get(field.path)
            rows.append(
                {
                    "field": field,
                    "id": field.id,
                    "label": gettext(field.label),
                    "hint": gettext(field.hint) if field.hint else None,
                    "value": value,
                    "default": _default_text(field, seed, business_name),
                    "marker": marker,
                    "marker_class": marker_class,
                    "can_reset": set_here and field.kind != "name",
                    "account_only": platform and field.path in ACCOUNT_ONLY,
                    "applies": applies.applies if applies is not None else None,
                    "applies_label": gettext(APPLIES_LABELS[applies.applies]) if applies else None,
                    "stripe_field": applies.stripe_field if applies is not None else None,
                    "source": info.source if info is not None else None,
                    "error": (
                        gettext(ERROR_MESSAGES[problem[0]])
                        if problem and problem[0] in ERROR_MESSAGES
                        else None
                    ),
                    "error_detail": problem[1] if problem else None,
                    "error_code": problem[0] if problem else None,
                }
            )
        sections.append({"key": key, "title": gettext(title), "fields": rows})
    return sections


async def version_rows(db_session: Any, account_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The newest versions, each with what changed since the one before it."""
    listed = await list_versions(db_session, account_id, limit=21)
    versions = listed.data
    rows = []
    for i, version in enumerate(versions[:20]):
        after = msgspec.convert(version.settings, PortalSettings)
        older = versions[i + 1] if i + 1 < len(versions) else None
        changes = (
            diff(msgspec.convert(older.settings, PortalSettings), after)
            if older is not None
            else None
        )
        rows.append(
            {
                "version": version,
                "changes": [
                    {
                        "path": path,
                        "label": gettext(FIELDS[field].label) if (field := field_of(path)) else "",
                        "before": msgspec.json.encode(change["before"]).decode(),
                        "after": msgspec.json.encode(change["after"]).decode(),
                    }
                    for path, change in (changes or {}).items()
                ],
                "first": older is None and not (len(versions) > 20 or listed.has_more),
            }
        )
    return rows, len(versions) > 20 or listed.has_more


# ------------------------------------------------------------------ pages


def _may_edit(caller: Caller, settings: Settings) -> bool:
    try:
        ensure_seller_may_edit(caller, settings, "portal_settings")
    except Forbidden:
        return False
    return True


def _error_of(exc: ValidationFailed | FormProblem) -> dict[str, tuple[str, str]]:
    message = exc.message if isinstance(exc, ValidationFailed) else ""
    target = field_of(exc.param)
    if target is None:
        return {"": (exc.code, message)}
    return {target: (exc.code, message)}


NOTICES: Final = ("saved", "reset", "restored")


class PortalPagesController(Controller):
    path = "/ui"
    include_in_schema = False

    # -- an account's settings ----------------------------------------------------

    async def _account_page(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: StripeGateway,
        settings: Settings,
        account_id: str,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, tuple[str, str]] | None = None,
        notice: str | None = None,
        sync_failed: bool = False,
        status_code: int = 200,
    ) -> Response[str]:
        caller = account_caller(request, account_id)
        row = await accounts.get_account(db_session, account_id)
        out = await portal_settings.get_account_settings(db_session, account_id)
        header = stripe_account_header(configuration_home(row))
        catalogue = await read_catalogue(gateway, header, out.settings)
        versions, more = await version_rows(db_session, account_id)
        errors = errors or {}
        return page(
            request,
            "web/portal.html",
            {
                "account": accounts.account_out(row),
                "platform": False,
                "action": f"/ui/accounts/{account_id}/portal",
                "editable": _may_edit(caller, settings),
                "sections": build_sections(
                    current=out.settings,
                    fields=out.fields,
                    overridden=overridden_paths(out.overrides),
                    values=shown_values(out.settings, values),
                    errors=errors,
                    platform=False,
                ),
                "catalogue": catalogue,
                "catalogue_home": header or "platform",
                "products": _products_view(out.settings, values),
                "sync": out.sync,
                "version": out.version,
                "versions": versions,
                "more_versions": more,
                "form_error": errors.get(""),
                "has_errors": bool(errors),
                "notice": notice if notice in NOTICES else None,
                "sync_failed": sync_failed,
                "max_headline": MAX_HEADLINE_LENGTH,
                "error_messages": ERROR_MESSAGES,
            },
            status_code=status_code,
        )

    @get("/accounts/{account_id:str}/portal")
    async def account_portal(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
        notice: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[str]:
        return await self._account_page(
            request, db_session, gateway, settings, account_id,
            notice=notice, sync_failed=error == "sync_failed",
        )  # fmt: skip

    @post("/accounts/{account_id:str}/portal", status_code=303)
    async def save_account_portal(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        session_maker: SessionMakerDep,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
    ) -> Response[Any]:
        """Save the fields that changed (the API's PATCH), or show why it was refused."""
        caller = account_caller(request, account_id)
        ensure_seller_may_edit(caller, settings, "portal_settings")
        form = await request.form()
        row = await accounts.get_account(db_session, account_id)
        current = await portal_settings.get_account_settings(db_session, account_id)
        header = stripe_account_header(configuration_home(row))
        catalogue = await read_catalogue(gateway, header, current.settings)
        values = read_form(form, current.settings, catalogue, platform=False)
        back = f"/ui/accounts/{account_id}/portal"
        try:
            changes = changes_from(values, current.settings)
            await portal_settings.patch_account_settings(
                session_maker, gateway, account_id, changes, reset=[], actor=caller.actor
            )
        except (ValidationFailed, FormProblem) as exc:
            return await self._account_page(
                request, db_session, gateway, settings, account_id,
                values=values, errors=_error_of(exc), status_code=422,
            )  # fmt: skip
        except StripeGatewayError:
            # The version is kept, marked out of sync with Stripe's error (the sync card).
            return Redirect(f"{back}?error=sync_failed", status_code=303)
        return Redirect(f"{back}?notice=saved", status_code=303)

    @post("/accounts/{account_id:str}/portal/reset", status_code=303)
    async def reset_account_field(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        session_maker: SessionMakerDep,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
    ) -> Response[Any]:
        """Inherit one field from the platform again (the API's PATCH `reset`)."""
        caller = account_caller(request, account_id)
        ensure_seller_may_edit(caller, settings, "portal_settings")
        path = (await request.form()).get("reset")
        if not isinstance(path, str) or path not in FIELDS:
            raise NotFound("No such portal setting.", param="reset")
        back = f"/ui/accounts/{account_id}/portal"
        try:
            await portal_settings.patch_account_settings(
                session_maker, gateway, account_id, PortalSettingsPatch(),
                reset=[path], actor=caller.actor,
            )  # fmt: skip
        except ValidationFailed as exc:
            return await self._account_page(
                request, db_session, gateway, settings, account_id,
                errors=_error_of(exc), status_code=422,
            )  # fmt: skip
        except StripeGatewayError:
            return Redirect(f"{back}?error=sync_failed", status_code=303)
        return Redirect(f"{back}?notice=reset", status_code=303)

    @post("/accounts/{account_id:str}/portal/versions/{version:int}/restore", status_code=303)
    async def restore_account_version(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        session_maker: SessionMakerDep,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
        version: FromPath[int],
    ) -> Response[Any]:
        """Save an earlier version's overrides as the newest version (the API's restore)."""
        caller = account_caller(request, account_id)
        ensure_seller_may_edit(caller, settings, "portal_settings")
        back = f"/ui/accounts/{account_id}/portal"
        try:
            await portal_settings.restore_version(
                session_maker, gateway, account_id, version, actor=caller.actor
            )
        except ValidationFailed as exc:
            return await self._account_page(
                request, db_session, gateway, settings, account_id,
                errors=_error_of(exc), status_code=422,
            )  # fmt: skip
        except StripeGatewayError:
            return Redirect(f"{back}?error=sync_failed", status_code=303)
        return Redirect(f"{back}?notice=restored", status_code=303)

    # -- the platform's defaults ----------------------------------------------------

    async def _platform_page(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: StripeGateway,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, tuple[str, str]] | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        admin_caller(request)
        out = await platform_defaults.get_platform_settings(db_session)
        catalogue = await read_catalogue(gateway, None, out.effective)
        errors = errors or {}
        return page(
            request,
            "web/portal.html",
            {
                "account": None,
                "platform": True,
                "action": "/ui/platform/portal",
                "editable": True,
                "sections": build_sections(
                    current=out.effective,
                    fields=out.fields,
                    overridden=overridden_paths(out.settings),
                    values=shown_values(out.effective, values),
                    errors=errors,
                    platform=True,
                ),
                "catalogue": catalogue,
                "catalogue_home": "platform",
                "products": _products_view(out.effective, values),
                "updated_at": out.updated_at,
                "updated_by": out.updated_by,
                "form_error": errors.get(""),
                "has_errors": bool(errors),
                "notice": notice if notice in NOTICES else None,
                "max_headline": MAX_HEADLINE_LENGTH,
                "error_messages": ERROR_MESSAGES,
            },
            status_code=status_code,
        )

    @get("/platform/portal")
    async def platform_portal(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        notice: FromQuery[str | None] = None,
    ) -> Response[str]:
        return await self._platform_page(request, db_session, gateway, notice=notice)

    async def _put_platform(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: StripeGateway,
        after_commit: AfterCommitDep,
        patch: PortalSettingsPatch,
        *,
        notice: str,
        values: dict[str, Any] | None = None,
    ) -> Response[Any]:
        caller = admin_caller(request)
        try:
            await platform_defaults.put_platform_settings(
                db_session, gateway, after_commit, patch, actor=caller.actor
            )
        except ValidationFailed as exc:
            return await self._platform_page(
                request, db_session, gateway, values=values, errors=_error_of(exc),
                status_code=422,
            )  # fmt: skip
        return Redirect(f"/ui/platform/portal?notice={notice}", status_code=303)

    @post("/platform/portal", status_code=303)
    async def save_platform_portal(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
    ) -> Response[Any]:
        """Change the platform's defaults (the API's PUT with the changed fields added)."""
        admin_caller(request)
        form = await request.form()
        out = await platform_defaults.get_platform_settings(db_session)
        catalogue = await read_catalogue(gateway, None, out.effective)
        values = read_form(form, out.effective, catalogue, platform=True)
        try:
            patch = apply_patch(out.settings, changes_from(values, out.effective))
        except FormProblem as exc:
            return await self._platform_page(
                request, db_session, gateway, values=values, errors=_error_of(exc),
                status_code=422,
            )  # fmt: skip
        return await self._put_platform(
            request, db_session, gateway, after_commit, patch, notice="saved", values=values
        )

    @post("/platform/portal/reset", status_code=303)
    async def reset_platform_field(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
    ) -> Response[Any]:
        """Back to the service's default for one field."""
        admin_caller(request)
        path = (await request.form()).get("reset")
        if not isinstance(path, str) or path not in FIELDS:
            raise NotFound("No such portal setting.", param="reset")
        out = await platform_defaults.get_platform_settings(db_session)
        patch = apply_patch(out.settings, PortalSettingsPatch(), reset=[path])
        return await self._put_platform(
            request, db_session, gateway, after_commit, patch, notice="reset"
        )


def _products_view(settings: PortalSettings, values: dict[str, Any] | None) -> dict[str, Any]:
    """The products offered (as sent, when refused) by id: ticked prices and limits."""
    offered: list[PortalProduct] = (
        values["subscription_management.products"]
        if values and "subscription_management.products" in values
        else settings.subscription_management.products
    )
    return {
        p.product: {
            "prices": set(p.prices),
            "minimum": p.adjustable_quantity.minimum if p.adjustable_quantity else None,
            "maximum": p.adjustable_quantity.maximum if p.adjustable_quantity else None,
        }
        for p in offered
    }
