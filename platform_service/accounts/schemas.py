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
    str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320, description="Email")
]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
ExternalRef = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
BusinessName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Stripe's metadata rules: at most 50 keys, keys up to 40 characters, values up to 500.
Metadata = Annotated[
    dict[
        Annotated[str, msgspec.Meta(min_length=1, max_length=40)],
        Annotated[str, msgspec.Meta(max_length=500)],
    ],
    msgspec.Meta(max_length=50),
]


class AccountCreate(Input, kw_only=True):
    external_ref: ExternalRef
    email: Email
    country: Country
    business_name: BusinessName
    charge_model: ChargeModel
    account_kind: AccountKind = "express"
    metadata: Metadata = msgspec.field(default_factory=dict)


class AccountUpdate(Input, kw_only=True):
    charge_model: ChargeModel | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    business_name: BusinessName | msgspec.UnsetType = msgspec.UNSET
    metadata: Metadata | msgspec.UnsetType = msgspec.UNSET


class Onboarding(Output, kw_only=True):
    status: OnboardingStatus
    reason: str
    next_action: NextAction
    due_fields: list[str] = msgspec.field(default_factory=list)
    deadline: datetime | None = None
    disabled_reason: str | None = None


class Account(Output, kw_only=True):
    id: str
    object: str = "account"
    external_ref: str | None = None
    email: str | None = None
    country: str | None = None
    business_name: str | None = None
    charge_model: ChargeModel
    account_kind: AccountKind
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    onboarding: Onboarding
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    created_at: datetime
    updated_at: datetime
    synced_at: datetime | None = None
    disconnected_at: datetime | None = None


class AccountList(Output, kw_only=True):
    object: str = "list"
    data: list[Account]
    has_more: bool


class OnboardingLinkCreate(Input, kw_only=True):
    type: Literal["onboarding", "update"] = "onboarding"
    return_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    refresh_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None


class OnboardingLink(Output, kw_only=True):
    object: str = "onboarding_link"
    url: str
    expires_at: datetime


class ImportCreate(Input, kw_only=True):
    charge_model: ChargeModel = ChargeModel.DIRECT


class AccountImportOut(Output, kw_only=True):
    id: str
    object: str = "account_import"
    status: str
    charge_model: ChargeModel
    seen: int
    created: int
    updated: int
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
