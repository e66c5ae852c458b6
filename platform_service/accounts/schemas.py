"""API shapes of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.onboarding import NextAction, OnboardingStatus
from platform_service.schemas import Input, Output

# Countries where Stripe lets a platform create connected accounts.
STRIPE_COUNTRIES = frozenset(
    [
        "AE",
        "AT",
        "AU",
        "BE",
        "BG",
        "BR",
        "CA",
        "CH",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GB",
        "GI",
        "GR",
        "HK",
        "HR",
        "HU",
        "IE",
        "IT",
        "JP",
        "LI",
        "LT",
        "LU",
        "LV",
        "MT",
        "MX",
        "MY",
        "NL",
        "NO",
        "NZ",
        "PL",
        "PT",
        "RO",
        "SE",
        "SG",
        "SI",
        "SK",
        "TH",
        "US",
    ]
)

AccountKind = Literal["express", "custom", "standard"]
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=320,
        description="The seller's email; Stripe sends onboarding mail to it.",
        examples=["owner@bakery.example"],
    ),
]
Country = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 country of the business; one Stripe supports for "
        "connected accounts.",
        examples=["US"],
    ),
]
ExternalRef = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="The platform's own id for this seller; creating twice with it returns "
        "the first account.",
        examples=["seller_8271"],
    ),
]
BusinessName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="The public business name (Stripe's `business_profile.name`).",
        examples=["Rosa's Bakery"],
    ),
]
ChargeModelField = Annotated[
    ChargeModel,
    msgspec.Meta(
        description="How the platform charges this seller's customers; decides where portal "
        "sessions are made and whose branding they show."
    ),
]
AccountKindField = Annotated[
    AccountKind,
    msgspec.Meta(
        description="Who owns the account's requirements and dashboard: `express` and "
        "`custom` are platform-controlled, `standard` has its own Stripe dashboard."
    ),
]
AccountsApiField = Annotated[
    Literal["v1", "v2"],
    msgspec.Meta(
        description="The Stripe Accounts API the account is read and written through: `v1` "
        "(`/v1/accounts`, branding in `settings.branding`) or `v2` (`/v2/core/accounts`, "
        "branding in `configuration.merchant.branding`). Omitted on create: the deployment's "
        "`STRIPE_ACCOUNTS_API`."
    ),
]
# Stripe's metadata rules: at most 50 keys, keys up to 40 characters, values up to 500.
Metadata = Annotated[
    dict[
        Annotated[str, msgspec.Meta(min_length=1, max_length=40)],
        Annotated[str, msgspec.Meta(max_length=500)],
    ],
    msgspec.Meta(
        max_length=50,
        description="Free key-value pairs stored on the Stripe account (Stripe's limits).",
        examples=[{"crm_id": "C-1042"}],
    ),
]


class AccountCreate(Input, kw_only=True):
    """A seller to create on Stripe and onboard."""

    external_ref: ExternalRef
    email: Email
    country: Country
    business_name: BusinessName
    charge_model: ChargeModelField
    account_kind: AccountKindField = "express"
    accounts_api: AccountsApiField | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class AccountUpdate(Input, kw_only=True):
    """The fields to change; those left out stay as they are."""

    charge_model: ChargeModelField | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    business_name: BusinessName | msgspec.UnsetType = msgspec.UNSET
    metadata: Metadata | msgspec.UnsetType = msgspec.UNSET
    # Moving an account between the APIs (a platform migrating to v2): Stripe must
    # already serve the account on the target API, or the change is refused (409).
    accounts_api: AccountsApiField | msgspec.UnsetType = msgspec.UNSET


class Onboarding(Output, kw_only=True):
    """Where the seller stands with Stripe's requirements, and what to do next."""

    status: Annotated[OnboardingStatus, msgspec.Meta(description="The onboarding state.")]
    reason: Annotated[
        str,
        msgspec.Meta(
            description="Why the account is in this state, in words.",
            examples=["Stripe needs more information before the due date."],
        ),
    ]
    next_action: Annotated[
        NextAction, msgspec.Meta(description="What the seller (or platform) should do next.")
    ]
    due_fields: Annotated[
        list[str],
        msgspec.Meta(
            description="Stripe's requirement names that are due now.",
            examples=[["individual.verification.document"]],
        ),
    ] = msgspec.field(default_factory=list)
    deadline: Annotated[
        datetime | None, msgspec.Meta(description="When the due fields must be provided.")
    ] = None
    disabled_reason: Annotated[
        str | None,
        msgspec.Meta(description="Stripe's `requirements.disabled_reason`, when disabled."),
    ] = None


class Account(Output, kw_only=True):
    """A connected account (a seller) as the service knows it."""

    id: Annotated[
        str,
        msgspec.Meta(
            description="The connected account's Stripe id.", examples=["acct_1Nv0FGQ9RKHgCVdK"]
        ),
    ]
    object: str = "account"
    external_ref: Annotated[
        str | None, msgspec.Meta(description="The platform's own id for this seller.")
    ] = None
    email: Annotated[str | None, msgspec.Meta(description="The seller's email.")] = None
    country: Annotated[str | None, msgspec.Meta(description="ISO 3166-1 alpha-2.")] = None
    business_name: Annotated[str | None, msgspec.Meta(description="The public business name.")] = (
        None
    )
    charge_model: ChargeModelField
    account_kind: AccountKindField
    accounts_api: AccountsApiField
    metadata: Annotated[
        dict[str, str], msgspec.Meta(description="The platform's key-value pairs.")
    ] = msgspec.field(default_factory=dict)
    onboarding: Onboarding
    charges_enabled: Annotated[bool, msgspec.Meta(description="Stripe lets it take charges.")]
    payouts_enabled: Annotated[bool, msgspec.Meta(description="Stripe pays out to it.")]
    details_submitted: Annotated[
        bool, msgspec.Meta(description="The seller finished Stripe's onboarding form.")
    ]
    created_at: datetime
    updated_at: datetime
    synced_at: Annotated[
        datetime | None, msgspec.Meta(description="When it was last read from Stripe.")
    ] = None
    disconnected_at: Annotated[
        datetime | None,
        msgspec.Meta(description="When the account left the platform (deauthorized)."),
    ] = None


class AccountList(Output, kw_only=True):
    """One page of accounts, newest first."""

    object: str = "list"
    data: list[Account]
    has_more: Annotated[
        bool, msgspec.Meta(description="More pages follow: pass the last `id` as `starting_after`.")
    ]


class OnboardingLinkCreate(Input, kw_only=True):
    """The link to mint: where Stripe sends the seller back."""

    type: Annotated[
        Literal["onboarding", "update"],
        msgspec.Meta(
            description="`onboarding` collects what is due; `update` lets a custom account's "
            "seller change what was submitted."
        ),
    ] = "onboarding"
    return_url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=2000,
            description="Where Stripe sends the seller when they leave the flow: https "
            "(http only for localhost).",
            examples=["https://platform.example/sellers/onboarded"],
        ),
    ]
    # The description sits beside the constraints (not around the union) so the
    # document keeps both.
    refresh_url: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=2000,
                description="Where Stripe sends the seller when the link expired; by default "
                "this service's own refresh URL, which mints a fresh link.",
            ),
        ]
        | None
    ) = None


class OnboardingLink(Output, kw_only=True):
    """A single-use hosted onboarding link: send the seller to it at once."""

    object: str = "onboarding_link"
    url: Annotated[str, msgspec.Meta(description="The hosted onboarding URL (single use).")]
    expires_at: Annotated[datetime, msgspec.Meta(description="When the link stops working.")]


class ImportCreate(Input, kw_only=True):
    """How to import the platform's existing connected accounts."""

    charge_model: Annotated[
        ChargeModel,
        msgspec.Meta(
            description="The charge model given to imported accounts that carry none in "
            "their metadata."
        ),
    ] = ChargeModel.DIRECT
    accounts_api: AccountsApiField | None = None


class AccountImportOut(Output, kw_only=True):
    """An import of the platform's connected accounts from Stripe, and its progress."""

    id: str
    object: str = "account_import"
    status: Annotated[
        str, msgspec.Meta(description="`queued`, `running`, `succeeded` or `failed`.")
    ]
    charge_model: ChargeModel
    accounts_api: AccountsApiField
    seen: Annotated[int, msgspec.Meta(description="Accounts read from Stripe so far.")]
    created: Annotated[int, msgspec.Meta(description="Accounts new to the service.")]
    updated: Annotated[int, msgspec.Meta(description="Accounts the service knew, refreshed.")]
    error: Annotated[str | None, msgspec.Meta(description="Why the import failed.")] = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
