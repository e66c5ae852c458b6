"""Pure branding rules: values, colours and the resolution table.

Nothing here touches the database, HTTP or Stripe, so every rule can be tested
exhaustively. `resolve_branding` is the one implementation of DESIGN.md's
charge-model table; portal sessions, previews and `/branding/effective` all
call it rather than re-deriving the call shape.
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

import msgspec

from platform_service.accounts.charge_models import ChargeModel

BorderStyle = Literal["rounded", "rectangular", "pill"]
BORDER_STYLES: Final[tuple[BorderStyle, ...]] = ("rounded", "rectangular", "pill")

# Stripe's closed list (Checkout `branding_settings.font_family`, the only API
# that takes a font; the portal's font is set in Stripe's Dashboard).
FontFamily = Literal[
    "default",
    "be_vietnam_pro",
    "bitter",
    "chakra_petch",
    "hahmlet",
    "inconsolata",
    "inter",
    "lato",
    "lora",
    "m_plus_1_code",
    "montserrat",
    "noto_sans",
    "noto_sans_jp",
    "noto_serif",
    "nunito",
    "open_sans",
    "pridi",
    "pt_sans",
    "pt_serif",
    "raleway",
    "roboto",
    "roboto_slab",
    "source_sans_pro",
    "titillium_web",
    "ubuntu_mono",
    "zen_maru_gothic",
]
FONT_FAMILIES: Final[tuple[str, ...]] = get_args(FontFamily)
_SERIF_FONTS: Final = frozenset(
    {"bitter", "hahmlet", "lora", "noto_serif", "pridi", "pt_serif", "roboto_slab"}
)
_MONO_FONTS: Final = frozenset({"inconsolata", "m_plus_1_code", "ubuntu_mono"})
_FONT_NAMES: Final[dict[str, str]] = {
    "m_plus_1_code": "M PLUS 1 Code",
    "pt_sans": "PT Sans",
    "pt_serif": "PT Serif",
    "noto_sans_jp": "Noto Sans JP",
}

BrandingSource = Literal["connected_account", "platform"]
# WCAG 2.x minimum contrast for user-interface components (SC 1.4.11).
MIN_BUTTON_CONTRAST: Final = 3.0

_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_FILE_ID_RE: Final = re.compile(r"file_[A-Za-z0-9_]+")


def parse_hex_color(value: str) -> str:
    """Validate a `#RRGGBB` colour and return it upper-cased (`#0A2540`).

    Upper case is the form Stripe's docs use for `primary_color`; normalising
    means stored values compare equal to what Stripe echoes back whatever case
    the caller typed, so drift checks don't see phantom changes.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected a colour string like #0A2540, got {type(value).__name__}")
    example = "like #0A2540"
    if value == "":
        raise ValueError(f"colour is empty; expected #RRGGBB, {example}")
    if value != value.strip():
        raise ValueError(f"{value!r} has surrounding whitespace; expected #RRGGBB, {example}")
    if not value.startswith("#"):
        if len(value) in (3, 6) and set(value) <= _HEX_DIGITS:
            full = value.upper() if len(value) == 6 else "".join(c * 2 for c in value).upper()
            raise ValueError(f"{value!r} is missing the leading '#'; expected #{full}")
        raise ValueError(
            f"{value!r} is not a hex colour (colour names and rgb() are not accepted); "
            f"expected #RRGGBB, {example}"
        )
    digits = value[1:]
    bad = sorted({c for c in digits if c not in _HEX_DIGITS})
    if bad:
        raise ValueError(
            f"{value!r} contains non-hex characters {''.join(bad)!r}; "
            "expected #RRGGBB using only 0-9 and A-F"
        )
    if len(digits) == 3:
        full = "#" + "".join(c * 2 for c in digits).upper()
        raise ValueError(
            f"{value!r} is 3-digit shorthand; Stripe takes the 6-digit form, here {full}"
        )
    if len(digits) == 8:
        raise ValueError(f"{value!r} has an alpha channel; expected #RRGGBB without alpha")
    if len(digits) != 6:
        raise ValueError(f"{value!r} has {len(digits)} hex digits after '#'; expected exactly 6")
    return value.upper()


def font_label(font: str) -> str:
    """How people name one of Stripe's fonts (`open_sans` -> "Open Sans")."""
    return _FONT_NAMES.get(font) or font.replace("_", " ").title()


def font_css(font: str | None) -> str | None:
    """A CSS font stack for one of Stripe's fonts (None for Stripe's default)."""
    if font is None or font == "default" or font not in FONT_FAMILIES:
        return None
    generic = (
        "serif" if font in _SERIF_FONTS else "monospace" if font in _MONO_FONTS else "sans-serif"
    )
    return f"'{font_label(font)}', {generic}"


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of a `#RRGGBB` colour, from 0 (black) to 1 (white)."""
    hex_value = parse_hex_color(color)
    channels = [int(hex_value[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    # sRGB linearisation; 0.04045 is the sRGB spec's threshold (WCAG's older
    # text says 0.03928, which gives the same result for 8-bit channels).
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio between two `#RRGGBB` colours: 1.0 (same) to 21.0 (black/white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    lighter, darker = max(la, lb), min(la, lb)
    return (lighter + 0.05) / (darker + 0.05)


class BrandingValues(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True, frozen=True
):
    """One set of branding fields; `None` means "not set here".

    Used for an account's own branding, the platform's defaults and the
    effective result. Values are checked (and colours normalised) on
    construction and on decode, so an instance is always valid.
    """

    display_name: str | None = None
    logo: str | None = None  # Stripe File id (purpose business_logo), uploaded on the platform
    icon: str | None = None  # Stripe File id (purpose business_icon); the portal shows this one
    button_color: str | None = None  # Accounts API settings.branding.primary_color
    background_color: str | None = None  # Accounts API settings.branding.secondary_color
    # The portal takes font and shapes only from Stripe's Dashboard: stored for the
    # per-account checklist (and Checkout's branding_settings), never written.
    font_family: FontFamily | None = None
    border_style: BorderStyle | None = None

    def __post_init__(self) -> None:
        # Plain construction skips msgspec's type checks, so check here too:
        # this is what keeps every instance, however made, valid.
        if self.display_name is not None and not self.display_name.strip():
            raise ValueError("display_name: must not be blank; leave it unset instead")
        for name in ("logo", "icon"):
            file_id = getattr(self, name)
            if file_id is not None and not _FILE_ID_RE.fullmatch(file_id):
                raise ValueError(
                    f"{name}: {file_id!r} is not a Stripe File id (expected file_...); "
                    "upload the image first"
                )
        for name in ("button_color", "background_color"):
            color = getattr(self, name)
            if color is not None:
                try:
                    normalised = parse_hex_color(color)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
                msgspec.structs.force_setattr(self, name, normalised)
        if self.font_family is not None and self.font_family not in FONT_FAMILIES:
            raise ValueError(
                f"font_family: {self.font_family!r} is not one of Stripe's fonts "
                f"({', '.join(FONT_FAMILIES)})"
            )
        if self.border_style is not None and self.border_style not in BORDER_STYLES:
            raise ValueError(
                f"border_style: {self.border_style!r} is not one of {', '.join(BORDER_STYLES)}"
            )

    def set_fields(self) -> list[str]:
        """Names of the fields that hold a value, in declaration order."""
        return [f for f in BRANDING_FIELDS if getattr(self, f) is not None]


BRANDING_FIELDS: Final[tuple[str, ...]] = BrandingValues.__struct_fields__


class BrandingCall(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """How the portal session must be created so Stripe shows the resolved branding.

    At most one is set: `stripe_account` (send `Stripe-Account`, the objects
    live on the connected account) or `on_behalf_of` (a platform call carrying
    `on_behalf_of`); neither means a plain platform call.
    """

    stripe_account: str | None = None
    on_behalf_of: str | None = None


class ResolvedBranding(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """The result of `resolve_branding`: what customers see, and why."""

    source: BrandingSource
    reason: str
    call: BrandingCall
    branding: BrandingValues
    # Fields the account lacks that were filled from the platform defaults;
    # always empty when the source is the platform (everything is the platform's).
    # No defaults: clients get both lists even when empty.
    inherited: list[str]
    warnings: list[str]


class _Rule(msgspec.Struct, frozen=True):
    source: BrandingSource
    call: Literal["stripe_account", "on_behalf_of", "platform"]
    label: str
    reason: str


# DESIGN.md's table, one row per charge model; tests assert it covers them all.
_RULES: Final[dict[ChargeModel, _Rule]] = {
    ChargeModel.DIRECT: _Rule(
        "connected_account",
        "stripe_account",
        "direct charges",
        "Direct charges: customers and subscriptions live on the connected account {account}, "
        "so the portal session is made as that account (Stripe-Account header) and shows "
        "the account's branding.",
    ),
    ChargeModel.DESTINATION_ON_BEHALF_OF: _Rule(
        "connected_account",
        "on_behalf_of",
        "destination charges with on_behalf_of",
        "Destination charges with on_behalf_of: customers live on the platform, and the "
        "portal session is made on the platform with on_behalf_of={account}, so it shows "
        "the connected account's branding.",
    ),
    ChargeModel.DESTINATION: _Rule(
        "platform",
        "platform",
        "destination charges without on_behalf_of",
        "Destination charges without on_behalf_of: customers live on the platform and the "
        "portal session is a plain platform call, so it shows the platform's branding; "
        "the account's own branding is not used.",
    ),
    ChargeModel.SEPARATE_CHARGES_AND_TRANSFERS: _Rule(
        "platform",
        "platform",
        "separate charges and transfers",
        "Separate charges and transfers: customers live on the platform and the portal "
        "session is a plain platform call, so it shows the platform's branding; the "
        "account's own branding is not used.",
    ),
}


def resolve_branding(
    *,
    account_id: str,
    charge_model: ChargeModel,
    account: BrandingValues,
    defaults: BrandingValues,
    platform: BrandingValues | None,
) -> ResolvedBranding:
    """Decide whose branding the portal shows for this account, and how to call Stripe.

    `defaults` are the service's platform defaults, which a connected account
    inherits field by field (the service writes them onto the account);
    `platform` is the platform's own branding as Stripe holds it, which is what
    a platform-source portal shows (None: not read from Stripe yet).
    """
    if not account_id.startswith("acct_"):
        raise ValueError(f"account_id {account_id!r} is not a Stripe account id (acct_...)")
    rule = _RULES[ChargeModel(charge_model)]
    if rule.call == "stripe_account":
        call = BrandingCall(stripe_account=account_id)
    elif rule.call == "on_behalf_of":
        call = BrandingCall(on_behalf_of=account_id)
    else:
        call = BrandingCall()

    found: list[str] = []
    inherited: list[str] = []
    effective: BrandingValues
    if rule.source == "connected_account":
        inherited = [
            name
            for name in BRANDING_FIELDS
            if getattr(account, name) is None and getattr(defaults, name) is not None
        ]
        effective = msgspec.structs.replace(
            account, **{name: getattr(defaults, name) for name in inherited}
        )
        if "display_name" in inherited:
            found.append(
                f"The account has no display name of its own, so the platform default "
                f"{defaults.display_name!r} stands in; customers of this account would see it."
            )
    else:
        if platform is None:
            effective = defaults
            found.append(
                "The platform's own branding has not been read from Stripe yet, so the "
                "service's platform defaults stand in here; the portal shows what Stripe "
                "holds for the platform (POST /v1/platform/branding/refresh reads it)."
            )
        else:
            effective = platform
        ignored = account.set_fields()
        if ignored:
            found.append(
                f"The account's own branding ({', '.join(ignored)}) is not shown to its "
                f"customers: with {rule.label} the portal shows the platform's "
                "branding."
            )

    found.extend(_effective_warnings(effective))
    return ResolvedBranding(
        source=rule.source,
        reason=rule.reason.format(account=account_id),
        call=call,
        branding=effective,
        inherited=inherited,
        warnings=found,
    )


def _effective_warnings(branding: BrandingValues) -> list[str]:
    found: list[str] = []
    if branding.display_name is None:
        found.append(
            "No display name is set, so the portal falls back to the business name Stripe "
            "holds for the account."
        )
    if branding.icon is None:
        if branding.logo is not None:
            found.append(
                "Only a logo is set: the portal shows the icon, not the logo, so customers "
                "see no brand mark; upload a square icon."
            )
        else:
            found.append("No icon is set: the portal shows the icon, so upload a square icon.")
    if branding.button_color is not None and branding.background_color is not None:
        ratio = contrast_ratio(branding.button_color, branding.background_color)
        if ratio < MIN_BUTTON_CONTRAST:
            found.append(
                f"Low contrast: button colour {branding.button_color} on background "
                f"{branding.background_color} has a contrast ratio of {ratio:.2f}:1, below "
                f"the {MIN_BUTTON_CONTRAST:.0f}:1 WCAG minimum for controls; customers may "
                "not see the buttons clearly."
            )
    return found
