"""What one branding write sends to an account's Stripe settings, and its idempotency key.

What is written to an account's `settings.branding` is the account's own value
for each field, falling back to the platform's default, i.e. exactly what
`resolve_branding` shows as effective for a connected-account source; so the
real portal matches the preview. `display_name` is the exception: it maps to
`business_profile.name`, the seller's public name, and is only written when the
account sets its own (the platform's name is never written onto a seller).
Stripe's API cannot clear an icon, logo or colour once set, so unsetting one
that Stripe holds with no platform default to fall back to is refused (422).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from platform_service.branding.rules import BrandingValues
from platform_service.errors import ValidationFailed
from platform_service.stripe.gateway import AccountUpdateParams
from platform_service.stripe.idempotency import idempotency_key

# Our field name -> Accounts API `settings.branding` field.
STRIPE_BRANDING_FIELDS: Final[dict[str, str]] = {
    "icon": "icon",
    "logo": "logo",
    "button_color": "primary_color",
    "background_color": "secondary_color",
}
# Fields Stripe holds for the account (drift is checked on these).
STRIPE_FIELDS: Final[tuple[str, ...]] = ("display_name", *STRIPE_BRANDING_FIELDS)
_COLOR_FIELDS: Final = frozenset({"button_color", "background_color"})

BrandingDict = dict[str, Any]


def stripe_targets(own: Mapping[str, Any], platform: BrandingValues) -> BrandingDict:
    """What the account's Stripe branding should hold: own values, else the platform's."""
    targets: BrandingDict = {
        name: own.get(name) if own.get(name) is not None else getattr(platform, name)
        for name in STRIPE_BRANDING_FIELDS
    }
    targets["display_name"] = own.get("display_name")
    return targets


def same_value(name: str, a: Any, b: Any) -> bool:
    """Equal as Stripe sees it (colours compare case-insensitively)."""
    if name in _COLOR_FIELDS and isinstance(a, str) and isinstance(b, str):
        return a.upper() == b.upper()
    return bool(a == b)


def plan_write(
    targets: Mapping[str, Any], last: Mapping[str, Any], business_name: str | None
) -> tuple[AccountUpdateParams | None, BrandingDict]:
    """The Stripe update to send (None: nothing to send) and the values it leaves on Stripe."""
    for field in STRIPE_BRANDING_FIELDS:
        if targets[field] is None and last.get(field) is not None:
            raise ValidationFailed(
                f"{field}: Stripe holds {last[field]!r} for this account and its API cannot "
                "clear it; set another value instead (or set a platform default to fall back to).",
                code="branding_field_not_clearable",
                param=field,
            )
    written = {n: targets[n] for n in STRIPE_BRANDING_FIELDS if targets[n] is not None}
    name = targets.get("display_name")
    if name is not None:
        written["display_name"] = name
    branding_changed = any(
        not same_value(n, targets[n], last.get(n)) for n in STRIPE_BRANDING_FIELDS
    )
    name_changed = name is not None and (name != last.get("display_name") or name != business_name)
    if not branding_changed and not name_changed:
        return None, written
    params: dict[str, Any] = {}
    branding = {STRIPE_BRANDING_FIELDS[n]: v for n, v in written.items() if n != "display_name"}
    if branding:
        params["settings"] = {"branding": branding}
    if name_changed:
        params["business_profile"] = {"name": name}
    if not params:
        return None, written
    return params, written  # type: ignore[return-value]


def write_key(account_id: str, version: int, params: AccountUpdateParams) -> str:
    """The idempotency key of an interactive write (bulk jobs pass their own)."""
    # The version makes each write's key new; the digest keeps a failed write's
    # key (remembered by Stripe for 24 h) from clashing with a corrected retry.
    digest = hashlib.sha256(msgspec.json.encode(params, order="sorted")).hexdigest()[:16]
    return idempotency_key("branding.account", account_id, f"v{version}", digest)
