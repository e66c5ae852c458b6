"""The portal settings document: every option of Stripe's portal settings page.

Two shapes of the same tree:

- `PortalSettings`: the whole document, every field present, defaulting to
  exactly the seed page's defaults (shared/reference/portal-defaults.json);
  the options Stripe has beyond the seed page (pause, trial and billing-cycle
  behaviour on update, feedback options, payment method configuration,
  configuration name, login page) default to what Stripe gives a configuration
  made through the API (stripe-contract.md §1.6).
- `PortalSettingsPatch`: the same tree with every field optional (`UNSET`).
  The platform's defaults and each account's overrides are stored as patches,
  so `merge` can layer seed defaults <- platform <- account field by field and
  report where every field came from.

Lists (products, reason options, conditions) are single values: a patch that
sets one replaces the whole list, since merging list items by position would
produce settings nobody chose.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

ProrateChanges = Literal["off", "charge_now", "next_invoice"]
Downgrades = Literal["update_immediately", "schedule_at_period_end"]
ScheduleCondition = Literal["decreasing_item_amount", "shortening_interval"]
CancelMode = Literal["at_period_end", "immediately"]
CancelProration = Literal["none", "create_prorations"]
TrialUpdateBehavior = Literal["end_trial", "continue_trial"]
BillingCycleAnchor = Literal["unchanged", "now"]
CancellationReason = Literal[
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]
FieldSource = Literal["default", "platform", "account"]

# In the seed page's order, which is also the order compiled and shown.
CANCELLATION_REASONS: Final[tuple[CancellationReason, ...]] = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)
SCHEDULE_CONDITIONS: Final[tuple[ScheduleCondition, ...]] = (
    "decreasing_item_amount",
    "shortening_interval",
)
# Stripe's values for a configuration made through the API without them.
STRIPE_TRIAL_UPDATE_BEHAVIOR: Final[TrialUpdateBehavior] = "end_trial"
STRIPE_BILLING_CYCLE_ANCHOR: Final[BillingCycleAnchor] = "unchanged"
MAX_PRODUCTS: Final = 10  # Stripe: "up to 10 products that support subscription updates"


class _Document(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the full document's parts: decoded from requests, shown whole.

    Not `omit_defaults`: the effective document is read by people deciding what
    to change, and a default that is left out reads as "not supported".
    """


class _Patch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the override parts: every field `UNSET` unless given (UNSET never encodes)."""


# ------------------------------------------------------------------ full document


class AdjustableQuantity(_Document):
    """Quantity limits for one product; used only while `update_quantities` is on."""

    enabled: bool = True
    minimum: int | None = None  # None: Stripe's default
    maximum: int | None = None  # None: no maximum


class PortalProduct(_Document):
    """A product customers may switch to or adjust, with the prices they may choose."""

    product: str
    prices: list[str]
    adjustable_quantity: AdjustableQuantity | None = None


class SubscriptionManagement(_Document):
    switch_plans: bool = False
    products: list[PortalProduct] = []
    update_quantities: bool = False
    prorate_changes: ProrateChanges = "off"
    downgrades: Downgrades = "update_immediately"
    # Which downgrades wait for the period end; read only while scheduling.
    schedule_conditions: list[ScheduleCondition] = msgspec.field(
        default_factory=lambda: list(SCHEDULE_CONDITIONS)
    )
    promotion_codes_on_update: bool = False
    # Beyond the seed page, at Stripe's API defaults. These two shape updates,
    # so they are read only while switch_plans or update_quantities is on.
    trial_update_behavior: TrialUpdateBehavior = STRIPE_TRIAL_UPDATE_BEHAVIOR
    billing_cycle_anchor: BillingCycleAnchor = STRIPE_BILLING_CYCLE_ANCHOR
    # Stripe's `subscription_pause`, off for a configuration made through the API.
    pause_subscriptions: bool = False


class Cancellations(_Document):
    cancel_subscriptions: bool = True
    cancel_mode: CancelMode = "at_period_end"
    cancel_proration: CancelProration = "none"
    cancellation_reason: bool = True
    cancellation_reason_options: list[CancellationReason] = msgspec.field(
        default_factory=lambda: list(CANCELLATION_REASONS)
    )
    # Not a configuration field: the coupon rides on each cancel flow's session.
    retention_coupon: bool = False
    retention_coupon_id: str | None = None
    # Ids of the Stripe account's own `billing.feedback_option` objects, shown
    # beside the fixed reasons.
    cancellation_feedback_options: list[str] = []


class AllowedCustomerFields(_Document):
    """Which customer details the portal lets customers edit (the seed's sub-toggles)."""

    name: bool = True
    email: bool = True
    address: bool = True
    phone: bool = True
    shipping: bool = False
    tax_id: bool = False


class CustomerBilling(_Document):
    billing_information: bool = True
    allowed_fields: AllowedCustomerFields = msgspec.field(default_factory=AllowedCustomerFields)
    payment_methods: bool = True
    payment_method_configuration: str | None = None  # None: the account's default (pmc_…)


class Customisation(_Document):
    headline: str | None = None  # None: Stripe's default sentence, see default_headline()
    terms_of_service_url: str | None = None
    privacy_policy_url: str | None = None
    default_return_url: str | None = None
    custom_domain: str | None = None  # recorded only; Stripe sets it up in its Dashboard
    business_name: str | None = None  # required; the account's public business name
    configuration_name: str | None = None  # the Stripe configuration's `name`, for people
    login_page: bool = False  # Stripe's shareable login link (`login_page.url`)


class InvoiceHistory(_Document):
    invoice_history: bool = True


class PortalSettings(_Document):
    """The whole portal settings document, grouped as the seed page groups it."""

    subscription_management: SubscriptionManagement = msgspec.field(
        default_factory=SubscriptionManagement
    )
    cancellations: Cancellations = msgspec.field(default_factory=Cancellations)
    customer_billing: CustomerBilling = msgspec.field(default_factory=CustomerBilling)
    customisation: Customisation = msgspec.field(default_factory=Customisation)
    invoice_history: InvoiceHistory = msgspec.field(default_factory=InvoiceHistory)


# ------------------------------------------------------------------ overrides


class SubscriptionManagementPatch(_Patch):
    switch_plans: bool | UnsetType = UNSET
    products: list[PortalProduct] | UnsetType = UNSET
    update_quantities: bool | UnsetType = UNSET
    prorate_changes: ProrateChanges | UnsetType = UNSET
    downgrades: Downgrades | UnsetType = UNSET
    schedule_conditions: list[ScheduleCondition] | UnsetType = UNSET
    promotion_codes_on_update: bool | UnsetType = UNSET
    trial_update_behavior: TrialUpdateBehavior | UnsetType = UNSET
    billing_cycle_anchor: BillingCycleAnchor | UnsetType = UNSET
    pause_subscriptions: bool | UnsetType = UNSET


class CancellationsPatch(_Patch):
    cancel_subscriptions: bool | UnsetType = UNSET
    cancel_mode: CancelMode | UnsetType = UNSET
    cancel_proration: CancelProration | UnsetType = UNSET
    cancellation_reason: bool | UnsetType = UNSET
    cancellation_reason_options: list[CancellationReason] | UnsetType = UNSET
    retention_coupon: bool | UnsetType = UNSET
    retention_coupon_id: str | UnsetType | None = UNSET
    cancellation_feedback_options: list[str] | UnsetType = UNSET


class AllowedCustomerFieldsPatch(_Patch):
    name: bool | UnsetType = UNSET
    email: bool | UnsetType = UNSET
    address: bool | UnsetType = UNSET
    phone: bool | UnsetType = UNSET
    shipping: bool | UnsetType = UNSET
    tax_id: bool | UnsetType = UNSET


class CustomerBillingPatch(_Patch):
    billing_information: bool | UnsetType = UNSET
    allowed_fields: AllowedCustomerFieldsPatch | UnsetType = UNSET
    payment_methods: bool | UnsetType = UNSET
    payment_method_configuration: str | UnsetType | None = UNSET


class CustomisationPatch(_Patch):
    # An explicit null is a value here ("use Stripe's default headline", "no
    # URL"), distinct from UNSET ("inherit"): that is why these admit None.
    headline: str | UnsetType | None = UNSET
    terms_of_service_url: str | UnsetType | None = UNSET
    privacy_policy_url: str | UnsetType | None = UNSET
    default_return_url: str | UnsetType | None = UNSET
    custom_domain: str | UnsetType | None = UNSET
    business_name: str | UnsetType | None = UNSET
    configuration_name: str | UnsetType | None = UNSET
    login_page: bool | UnsetType = UNSET


class InvoiceHistoryPatch(_Patch):
    invoice_history: bool | UnsetType = UNSET


class PortalSettingsPatch(_Patch):
    """Overrides of the portal settings document; a field left `UNSET` is inherited."""

    subscription_management: SubscriptionManagementPatch | UnsetType = UNSET
    cancellations: CancellationsPatch | UnsetType = UNSET
    customer_billing: CustomerBillingPatch | UnsetType = UNSET
    customisation: CustomisationPatch | UnsetType = UNSET
    invoice_history: InvoiceHistoryPatch | UnsetType = UNSET


# Each group of the document and the patch type that overrides it. Anything
# not listed here (lists, AdjustableQuantity inside products) is a leaf.
PATCH_TYPES: Final[dict[type[msgspec.Struct], type[msgspec.Struct]]] = {
    PortalSettings: PortalSettingsPatch,
    SubscriptionManagement: SubscriptionManagementPatch,
    Cancellations: CancellationsPatch,
    CustomerBilling: CustomerBillingPatch,
    AllowedCustomerFields: AllowedCustomerFieldsPatch,
    Customisation: CustomisationPatch,
    InvoiceHistory: InvoiceHistoryPatch,
}


def _is_group(value: object) -> bool:
    return type(value) in PATCH_TYPES


def _leaves(node: msgspec.Struct, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name in node.__struct_fields__:
        value = getattr(node, name)
        if _is_group(value):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


LEAF_PATHS: Final[tuple[str, ...]] = tuple(path for path, _ in _leaves(PortalSettings()))
GROUP_PATHS: Final[frozenset[str]] = frozenset(
    path.rsplit(".", i)[0] for path in LEAF_PATHS for i in range(1, path.count(".") + 1)
)


def leaf_values(settings: PortalSettings) -> dict[str, Any]:
    """Every leaf of the document by dotted path (`cancellations.cancel_mode`)."""
    return dict(_leaves(settings))


def value_at(settings: PortalSettings, path: str) -> Any:
    """The value at a dotted leaf or group path; KeyError names an unknown path."""
    if path not in LEAF_PATHS and path not in GROUP_PATHS:
        raise KeyError(f"unknown portal settings path {path!r}")
    node: Any = settings
    for name in path.split("."):
        node = getattr(node, name)
    return node


def _overlay(
    base: msgspec.Struct,
    patch: msgspec.Struct,
    *,
    label: FieldSource,
    sources: dict[str, FieldSource] | None,
    prefix: str,
) -> Any:
    """`base` (a full group) with the set fields of `patch` (its patch type) applied."""
    changes: dict[str, Any] = {}
    for name in patch.__struct_fields__:
        value = getattr(patch, name)
        if value is UNSET:
            continue
        current = getattr(base, name)
        if _is_group(current):
            changes[name] = _overlay(
                current, value, label=label, sources=sources, prefix=f"{prefix}{name}."
            )
        else:
            changes[name] = value
            if sources is not None:
                sources[f"{prefix}{name}"] = label
    return msgspec.structs.replace(base, **changes) if changes else base


class MergedSettings(NamedTuple):
    """The effective document and, for every leaf path, where its value came from."""

    settings: PortalSettings
    sources: dict[str, FieldSource]

    @property
    def inherited(self) -> frozenset[str]:
        """Leaf paths the account does not set itself (platform default or seed default)."""
        return frozenset(path for path, src in self.sources.items() if src != "account")


def merge(
    platform: PortalSettingsPatch | None = None, account: PortalSettingsPatch | None = None
) -> MergedSettings:
    """Layer seed defaults <- platform defaults <- account overrides, field by field."""
    sources: dict[str, FieldSource] = dict.fromkeys(LEAF_PATHS, "default")
    settings = PortalSettings()
    layers: tuple[tuple[FieldSource, PortalSettingsPatch | None], ...] = (
        ("platform", platform),
        ("account", account),
    )
    for label, patch in layers:
        if patch is not None:
            settings = _overlay(settings, patch, label=label, sources=sources, prefix="")
    return MergedSettings(settings, sources)


def settings_from_patch(patch: PortalSettingsPatch) -> PortalSettings:
    """A whole document: the seed defaults with `patch` applied."""
    return merge(patch).settings


def patch_from_settings(settings: PortalSettings) -> PortalSettingsPatch:
    """`settings` as a patch setting every field, e.g. to pin a document as overrides."""
    return msgspec.convert(msgspec.to_builtins(settings), PortalSettingsPatch)


def _patch_overlay(base: Any, patch: Any) -> Any:
    """Patch on patch: set fields of `patch` win, nested groups merge."""
    if base is UNSET:
        return patch
    changes: dict[str, Any] = {}
    for name in patch.__struct_fields__:
        value = getattr(patch, name)
        if value is UNSET:
            continue
        current = getattr(base, name)
        is_group_patch = isinstance(value, _Patch)
        changes[name] = _patch_overlay(current, value) if is_group_patch else value
    return msgspec.structs.replace(base, **changes) if changes else base


def _unset_path(node: Any, names: list[str]) -> Any:
    if node is UNSET:
        return node
    head, rest = names[0], names[1:]
    child = UNSET if not rest else _unset_path(getattr(node, head), rest)
    node = msgspec.structs.replace(node, **{head: child})
    # An emptied group collapses to UNSET so the stored overrides stay minimal.
    if all(getattr(node, f) is UNSET for f in node.__struct_fields__):
        return UNSET
    return node


def apply_patch(
    current: PortalSettingsPatch,
    patch: PortalSettingsPatch,
    *,
    reset: Iterable[str] = (),
) -> PortalSettingsPatch:
    """Stored overrides after a PATCH: drop the `reset` paths (inherit again), then apply `patch`.

    `reset` takes dotted leaf or group paths; a value of `None` in `patch` is a
    value (e.g. "no headline: use Stripe's default"), never "inherit".
    """
    result: Any = current
    for path in reset:
        if path not in LEAF_PATHS and path not in GROUP_PATHS:
            raise KeyError(f"unknown portal settings path {path!r}")
        result = _unset_path(result, path.split("."))
        if result is UNSET:
            result = PortalSettingsPatch()
    merged = _patch_overlay(result, patch)
    assert isinstance(merged, PortalSettingsPatch)
    return merged


def overridden_paths(patch: PortalSettingsPatch) -> frozenset[str]:
    """The leaf paths a patch sets."""
    return frozenset(_patch_leaves(patch, ""))


def _patch_leaves(node: Any, prefix: str) -> Iterator[str]:
    for name in node.__struct_fields__:
        value = getattr(node, name)
        if value is UNSET:
            continue
        if isinstance(value, _Patch):
            yield from _patch_leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def default_headline(business_name: str) -> str:
    """The sentence Stripe's portal shows when no headline is configured."""
    return f"{business_name} partners with Stripe to simplify billing."


def effective_headline(settings: PortalSettings) -> str | None:
    """The headline customers see: the set one, else Stripe's default for the business name."""
    custom = settings.customisation
    if custom.headline is not None:
        return custom.headline
    return default_headline(custom.business_name) if custom.business_name else None
