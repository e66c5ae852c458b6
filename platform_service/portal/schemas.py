"""API shapes of the portal domain: settings documents, versions, sessions.

The settings document itself (`PortalSettings`, `PortalSettingsPatch`) lives in
`portal.document`; these wrap it with where each field came from and how the
account's configuration stands on Stripe. Session flows are tagged unions on
`type`, mirroring Stripe's `flow_data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from platform_service.portal.document import PortalSettings, PortalSettingsPatch
from platform_service.schemas import Input, Output

# "account_profile": the business name taken from the connected account itself.
FieldOrigin = Literal["default", "platform", "account", "account_profile"]
SyncStatus = Literal["in_sync", "pending", "out_of_sync"]


class FieldInfo(Output, kw_only=True):
    """Where one leaf of the effective document came from."""

    source: FieldOrigin
    inherited: bool


class SyncState(Output, kw_only=True):
    """How the account's settings stand on Stripe."""

    status: SyncStatus
    error: str | None = None
    stripe_account: str | None = None  # "platform" or the connected account id
    configuration_id: str | None = None
    live_version: int | None = None
    synced_at: datetime | None = None


class PlatformPortalSettingsOut(Output, kw_only=True):
    """The platform's defaults: what it sets, and the document accounts inherit."""

    settings: PortalSettingsPatch
    effective: PortalSettings
    fields: dict[str, FieldInfo]
    updated_at: datetime | None = None
    updated_by: str | None = None


class AccountPortalSettingsOut(Output, kw_only=True):
    """An account's effective document, its own overrides and, per field, its origin."""

    account_id: str
    version: int
    settings: PortalSettings
    overrides: PortalSettingsPatch
    fields: dict[str, FieldInfo]
    effective_headline: str | None = None
    sync: SyncState


class PortalSettingsVersionOut(Output, kw_only=True):
    version: int
    created_at: datetime
    actor: str
    live: bool
    content_hash: str
    stripe_account: str
    configuration_id: str | None = None
    settings: dict[str, Any]
    overrides: dict[str, Any]


class PortalSettingsVersionList(Output, kw_only=True):
    data: list[PortalSettingsVersionOut]
    has_more: bool


class PortalApplyResult(msgspec.Struct, kw_only=True):
    """What `apply_portal_patch` did (or, with dry_run, would do) to one account."""

    changed: bool
    # Dotted leaf path -> {"before": ..., "after": ...} of the effective document.
    diff: dict[str, dict[str, Any]]
    version: int | None = None
    configuration_id: str | None = None
    sync_status: SyncStatus | None = None


# ------------------------------------------------------------------ sessions

Locale = Literal[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
]  # fmt: skip


class _After(Input, tag_field="type", kw_only=True):
    """Base of `after_completion`: what the portal does once the flow is done."""


class PortalHomepage(_After, tag="portal_homepage", kw_only=True):
    pass


class HostedConfirmation(_After, tag="hosted_confirmation", kw_only=True):
    custom_message: str | None = None


class RedirectAfter(_After, tag="redirect", kw_only=True):
    # Checked against the allowed return hosts like `return_url`.
    return_url: str


AfterCompletion = PortalHomepage | HostedConfirmation | RedirectAfter


class _Flow(Input, tag_field="type", kw_only=True):
    """Base of `flow`: a deep link into one portal task."""

    after_completion: AfterCompletion | None = None


class PaymentMethodUpdateFlow(_Flow, tag="payment_method_update", kw_only=True):
    pass


class CustomerUpdateFlow(_Flow, tag="customer_update", kw_only=True):
    pass


class SubscriptionCancelFlow(_Flow, tag="subscription_cancel", kw_only=True):
    """The retention coupon, when offered, is attached by the service, not the caller."""

    subscription: str


class SubscriptionUpdateFlow(_Flow, tag="subscription_update", kw_only=True):
    subscription: str


class SubscriptionPauseFlow(_Flow, tag="subscription_pause", kw_only=True):
    subscription: str


class ConfirmItem(Input, kw_only=True):
    id: str
    price: str | None = None
    quantity: int | None = msgspec.field(default=None)


class ConfirmDiscount(Input, kw_only=True):
    coupon: str | None = None
    promotion_code: str | None = None


class SubscriptionUpdateConfirmFlow(_Flow, tag="subscription_update_confirm", kw_only=True):
    subscription: str
    items: list[ConfirmItem]
    discounts: list[ConfirmDiscount] | None = None


PortalFlow = (
    PaymentMethodUpdateFlow
    | CustomerUpdateFlow
    | SubscriptionCancelFlow
    | SubscriptionUpdateFlow
    | SubscriptionPauseFlow
    | SubscriptionUpdateConfirmFlow
)


class PortalSessionCreate(Input, kw_only=True):
    """Open a portal session for one customer of the account."""

    customer: str
    return_url: str | None = None
    locale: Locale | None = None
    flow: PortalFlow | None = None


class PortalSessionOut(Output, kw_only=True):
    """The session's URL is a bearer credential: use it at once, never store it."""

    url: str
    branding_source: Literal["connected_account", "platform"]
    configuration_id: str
    flow: dict[str, Any] | None = None
