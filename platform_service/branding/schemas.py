"""API shapes of the branding domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from platform_service.branding.images import ImageFormat
from platform_service.branding.rules import BorderStyle, ResolvedBranding
from platform_service.schemas import Input, Output

DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
FileId = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Color = Annotated[str, msgspec.Meta(min_length=1, max_length=20, examples=["#0A2540"])]
FontFamily = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class BrandingPut(Input, kw_only=True):
    """The whole branding document: a field left out (or null) is not set here."""

    display_name: DisplayName | None = None
    logo: FileId | None = None
    icon: FileId | None = None
    button_color: Color | None = None
    background_color: Color | None = None
    font_family: FontFamily | None = None
    border_style: BorderStyle | None = None


class BrandingPatch(Input, kw_only=True):
    """Only the fields sent change; null unsets a field (it then inherits the platform's)."""

    display_name: DisplayName | msgspec.UnsetType | None = msgspec.UNSET
    logo: FileId | msgspec.UnsetType | None = msgspec.UNSET
    icon: FileId | msgspec.UnsetType | None = msgspec.UNSET
    button_color: Color | msgspec.UnsetType | None = msgspec.UNSET
    background_color: Color | msgspec.UnsetType | None = msgspec.UNSET
    font_family: FontFamily | msgspec.UnsetType | None = msgspec.UNSET
    border_style: BorderStyle | msgspec.UnsetType | None = msgspec.UNSET


class BrandingFields(Output, kw_only=True):
    display_name: str | None = None
    logo: str | None = None
    icon: str | None = None
    button_color: str | None = None
    background_color: str | None = None
    font_family: str | None = None
    border_style: BorderStyle | None = None


class PlatformBrandingOut(Output, kw_only=True):
    object: str = "platform_branding"
    branding: BrandingFields
    version: int = 0
    updated_at: datetime | None = None


class StripeWrite(Output, kw_only=True):
    """The last write of this account's branding to Stripe."""

    version: int
    idempotency_key: str
    written_at: datetime
    values: dict[str, Any]


class Drift(Output, kw_only=True):
    """Fields Stripe holds differently from what the service last wrote."""

    detected: bool
    fields: dict[str, Any]
    detected_at: datetime | None = None
    checked_at: datetime | None = None


class AccountBrandingOut(Output, kw_only=True):
    object: str = "account_branding"
    account_id: str
    branding: BrandingFields
    version: int = 0
    last_write: StripeWrite | None = None
    drift: Drift
    updated_at: datetime | None = None


class BrandingFileOut(Output, kw_only=True):
    object: str = "branding_file"
    id: str
    purpose: Literal["logo", "icon"]
    format: ImageFormat
    width: int
    height: int
    size_bytes: int
    sha256: str
    created_at: datetime


class BrandingUploadOut(Output, kw_only=True):
    object: str = "branding_upload"
    file: BrandingFileOut
    branding: AccountBrandingOut


class EffectiveBranding(Output, kw_only=True):
    object: str = "effective_branding"
    account_id: str
    charge_model: str
    resolution: ResolvedBranding


class DriftReport(Output, kw_only=True):
    """`GET …/branding/drift`: Stripe now against the last write."""

    object: str = "branding_drift"
    account_id: str
    in_sync: bool
    expected: dict[str, Any] | None = None
    stripe: dict[str, Any]
    fields: dict[str, Any]
    # Own fields or inherited defaults changed since the last write (e.g. the
    # platform defaults moved): the next write would send these.
    pending: list[str]
    detected_at: datetime | None = None
    checked_at: datetime
