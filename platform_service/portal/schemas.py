"""API shapes of the portal domain: settings documents, versions, sessions.

The settings document itself (`PortalSettings`, `PortalSettingsPatch`) lives in
`portal.document`; these wrap it with where each field came from and how the
account's configuration stands on Stripe. Session flows are tagged unions on
`type`, mirroring Stripe's `flow_data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from platform_service.applies import Effect
from platform_service.portal.document import PortalSettings, PortalSettingsPatch
from platform_service.schemas import Input, Output

# "account_profile": the business name taken from the connected account itself.
FieldOrigin = Literal["default", "platform", "account", "account_profile", "platform_profile"]
SyncStatus = Literal["in_sync", "pending", "out_of_sync"]


class FieldInfo(Output, kw_only=True):
    """Where one leaf of the effective document came from."""

    source: Annotated[
        FieldOrigin,
        msgspec.Meta(
            description="`default` (the service's), `platform`, `account`, or where the "
            "business name the portal shows was read: `account_profile` (the connected "
            "account's) or `platform_profile` (the platform's, for platform-source portals)."
        ),
    ]
    inherited: Annotated[bool, msgspec.Meta(description="Not set by the account itself.")]
    applies: Annotated[
        Effect | None,
        msgspec.Meta(description="Where the setting takes effect (`applies.PORTAL`)."),
    ] = None


class SyncState(Output, kw_only=True):
    """How the account's settings stand on Stripe."""

    status: Annotated[
        SyncStatus,
        msgspec.Meta(
            description="`in_sync`, `pending` (a sync is queued) or `out_of_sync` (the last "
            "sync failed: see `error`)."
        ),
    ]
    error: Annotated[str | None, msgspec.Meta(description="Why the last sync failed.")] = None
    stripe_account: Annotated[
        str | None,
        msgspec.Meta(
            description="Where the configuration lives: `platform`, or the connected account id."
        ),
    ] = None
    configuration_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The Stripe portal configuration sessions use.",
            examples=["bpc_1Nv0FGQ9RKHgCVdK"],
        ),
    ] = None
    live_version: Annotated[
        int | None, msgspec.Meta(description="The settings version that is on Stripe.")
    ] = None
    synced_at: datetime | None = None
    login_page_url: Annotated[
        str | None,
        msgspec.Meta(
            description="The configuration's shareable login link, while `login_page` is on "
            "(customers sign in by email).",
        ),
    ] = None


class PlatformPortalSettingsOut(Output, kw_only=True):
    """The platform's defaults: what it sets, and the document accounts inherit."""

    settings: Annotated[
        PortalSettingsPatch, msgspec.Meta(description="What the platform sets itself.")
    ]
    effective: Annotated[
        PortalSettings,
        msgspec.Meta(description="The document an account without overrides gets."),
    ]
    fields: Annotated[
        dict[str, FieldInfo], msgspec.Meta(description="Per dotted leaf path, its origin.")
    ]
    updated_at: datetime | None = None
    updated_by: str | None = None


class AccountPortalSettingsOut(Output, kw_only=True):
    """An account's effective document, its own overrides and, per field, its origin."""

    account_id: str
    version: Annotated[int, msgspec.Meta(description="The newest saved version.")]
    settings: Annotated[
        PortalSettings, msgspec.Meta(description="The effective document, every field resolved.")
    ]
    overrides: Annotated[
        PortalSettingsPatch, msgspec.Meta(description="What the account sets itself.")
    ]
    fields: Annotated[
        dict[str, FieldInfo],
        msgspec.Meta(
            description="Per dotted leaf path (e.g. `customisation.headline`), its origin."
        ),
    ]
    effective_headline: Annotated[
        str | None,
        msgspec.Meta(description="The headline customers see (Stripe's sentence when unset)."),
    ] = None
    sync: SyncState


class PortalSettingsVersionOut(Output, kw_only=True):
    """One saved version of an account's portal settings."""

    version: int
    created_at: datetime
    actor: Annotated[str, msgspec.Meta(description="Who saved it.")]
    live: Annotated[bool, msgspec.Meta(description="This version is the one on Stripe.")]
    content_hash: Annotated[
        str,
        msgspec.Meta(description="Hash of the compiled configuration (identical ones share it)."),
    ]
    stripe_account: str
    configuration_id: str | None = None
    settings: Annotated[dict[str, Any], msgspec.Meta(description="The effective document.")]
    overrides: Annotated[dict[str, Any], msgspec.Meta(description="The account's own fields.")]


class PortalSettingsVersionList(Output, kw_only=True):
    """One page of versions, newest first."""

    data: list[PortalSettingsVersionOut]
    has_more: Annotated[
        bool,
        msgspec.Meta(description="More pages follow: pass the last `version` as `starting_after`."),
    ]


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


class CustomerLogin(Input, kw_only=True):
    expires_at: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(
            description="Unix time after which an expired session can no longer be recovered; "
            "left out, recovery has no deadline.",
        ),
    ] = None


class AfterExpiration(Input, kw_only=True):
    """What an expired session's URL offers (Stripe's `after_expiration`)."""

    type: Annotated[
        Literal["customer_login"],
        msgspec.Meta(
            description="`customer_login`: the customer verifies their email and gets a new "
            "session with the same configuration."
        ),
    ]
    customer_login: CustomerLogin | None = None


class PortalSessionCreate(Input, kw_only=True):
    """Open a portal session for one customer of the account: `customer` or `customer_account`."""

    customer: Annotated[
        str | None,
        msgspec.Meta(
            description="The Stripe customer (on the account for `direct`, on the platform "
            "otherwise). Give this or `customer_account`.",
            examples=["cus_PdX3Lk2v9a"],
        ),
    ] = None
    customer_account: Annotated[
        str | None,
        msgspec.Meta(
            description="An Accounts v2 account configured as a customer, instead of `customer`.",
            examples=["acct_1Nv0FGQ9RKHgCVdK"],
        ),
    ] = None
    return_url: Annotated[
        str | None,
        msgspec.Meta(
            description="Where the portal's back link goes; on an allowed host. Defaults to "
            "the settings' `default_return_url`; with neither, the portal shows no back link.",
            examples=["https://shop.example/account"],
        ),
    ] = None
    locale: Annotated[
        Locale | None, msgspec.Meta(description="The portal's language; `auto` by default.")
    ] = None
    flow: Annotated[
        PortalFlow | None,
        msgspec.Meta(description="Open one task directly (Stripe's `flow_data`)."),
    ] = None
    after_expiration: Annotated[
        AfterExpiration | None,
        msgspec.Meta(description="Let a customer recover the session after its URL expires."),
    ] = None


class PortalSessionOut(Output, kw_only=True):
    """The session's URL is a bearer credential: use it at once, never store it."""

    url: Annotated[
        str, msgspec.Meta(description="The portal session URL: single use, send the customer now.")
    ]
    branding_source: Annotated[
        Literal["connected_account", "platform"],
        msgspec.Meta(description="Whose branding the portal shows."),
    ]
    configuration_id: Annotated[
        str, msgspec.Meta(description="The Stripe portal configuration the session uses.")
    ]
    flow: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="The flow Stripe opened, as sent.")
    ] = None
