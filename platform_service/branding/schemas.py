"""API shapes of the branding domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from platform_service.applies import ChecklistItem, Effect
from platform_service.branding.images import ImageFormat
from platform_service.branding.rules import BorderStyle, ResolvedBranding
from platform_service.branding.rules import FontFamily as StripeFont
from platform_service.schemas import Input, Output

DisplayName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="The public business name customers see (Stripe's `business_profile.name`).",
        examples=["Rosa's Bakery"],
    ),
]
FileId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        description="A Stripe File id uploaded on the platform (see the logo and icon uploads).",
        examples=["file_1Nv0FGQ9RKHgCVdK"],
    ),
]
Color = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=20, description="A colour, `#RRGGBB`.", examples=["#0A2540"]
    ),
]
FontFamily = Annotated[
    StripeFont,
    msgspec.Meta(
        description="One of Stripe's fonts. The portal's font is set in Stripe's Dashboard "
        "(applies: stripe_dashboard): the service stores it for the account's checklist.",
        examples=["inter"],
    ),
]


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
    """Branding values; a field left out is not set at this level."""

    display_name: Annotated[str | None, msgspec.Meta(description="The public business name.")] = (
        None
    )
    logo: Annotated[
        str | None, msgspec.Meta(description="Stripe File id of the logo (Checkout shows it).")
    ] = None
    icon: Annotated[
        str | None, msgspec.Meta(description="Stripe File id of the icon (the portal shows it).")
    ] = None
    button_color: Annotated[
        str | None,
        msgspec.Meta(description="`#RRGGBB`; Stripe's `primary_color`.", examples=["#0A2540"]),
    ] = None
    background_color: Annotated[
        str | None,
        msgspec.Meta(description="`#RRGGBB`; Stripe's `secondary_color`.", examples=["#F6F9FC"]),
    ] = None
    font_family: Annotated[
        StripeFont | None, msgspec.Meta(description="One of Stripe's fonts (set in its Dashboard).")
    ] = None
    border_style: Annotated[
        BorderStyle | None, msgspec.Meta(description="`rounded`, `rectangular` or `pill`.")
    ] = None


class PlatformOnStripe(Output, kw_only=True):
    """The platform's own branding as last read from Stripe (set in its Stripe Dashboard)."""

    account_id: str
    branding: Annotated[
        BrandingFields,
        msgspec.Meta(
            description="`display_name` is the platform's `business_profile.name`; colours, "
            "icon and logo its `settings.branding`."
        ),
    ]
    fetched_at: datetime


class PlatformBrandingOut(Output, kw_only=True):
    """The platform's defaults (what accounts inherit) and its own branding on Stripe."""

    object: str = "platform_branding"
    branding: Annotated[
        BrandingFields,
        msgspec.Meta(
            description="The service's platform defaults: what a connected account without "
            "its own value inherits, field by field, when the service writes its branding. "
            "Never written to the platform's own Stripe account."
        ),
    ]
    version: Annotated[int, msgspec.Meta(description="Bumped by every change.")] = 0
    updated_at: datetime | None = None
    stripe: Annotated[
        PlatformOnStripe | None,
        msgspec.Meta(
            description="The platform's own branding as Stripe holds it: what portals of "
            "destination and separate-charges accounts show. Null until first read "
            "(`POST /v1/platform/branding/refresh`)."
        ),
    ] = None


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
    """An account's own branding (what it does not set, it inherits from the platform)."""

    object: str = "account_branding"
    account_id: str
    branding: BrandingFields
    version: Annotated[int, msgspec.Meta(description="Bumped by every change.")] = 0
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
    """What the account's customer portal shows, and why."""

    object: str = "effective_branding"
    account_id: str
    charge_model: str
    resolution: Annotated[
        ResolvedBranding,
        msgspec.Meta(
            description="Whose branding applies (the account's or the platform's), the reason, "
            "how a session call is made, and the values after falling back field by field."
        ),
    ]
    applies: Annotated[
        dict[str, Effect],
        msgspec.Meta(description="For every branding field, where it takes effect."),
    ]
    dashboard_checklist: Annotated[
        list[ChecklistItem],
        msgspec.Meta(
            description="What only a Stripe Dashboard can set for this account's portal to "
            "look as intended (font, shapes, custom domain, emails); never applied by the "
            "service."
        ),
    ]


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
