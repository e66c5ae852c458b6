"""The effective portal document: seed defaults <- platform defaults <- account overrides.

The platform's defaults and each account's overrides are stored as
`PortalSettingsPatch` JSON; `effective_for` layers them and says where every
field came from. Nothing here writes.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import msgspec
from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.applies import PORTAL
from platform_service.errors import ValidationFailed, _param_from_litestar
from platform_service.portal.document import (
    PortalSettings,
    PortalSettingsPatch,
    apply_patch,
    leaf_values,
    merge,
)
from platform_service.portal.models import PlatformPortalSettings
from platform_service.portal.schemas import FieldInfo, FieldOrigin
from platform_service.portal.validation import SettingsIssue

PLATFORM_ROW_ID: Final = 1
# Stands in for the business name when a document is judged without an account.
PLACEHOLDER_NAME: Final = "Platform"


class Effective(NamedTuple):
    settings: PortalSettings
    fields: dict[str, FieldInfo]


def dump(value: Any) -> Any:
    return msgspec.to_builtins(value)


def as_patch(data: dict[str, Any]) -> PortalSettingsPatch:
    """A stored patch (already valid when it was saved)."""
    return msgspec.convert(data, PortalSettingsPatch)


def decode_patch(data: Any) -> PortalSettingsPatch:
    """A `PortalSettingsPatch` from JSON-like data; ValidationFailed names the bad field."""
    try:
        return msgspec.convert(data, PortalSettingsPatch)
    except msgspec.ValidationError as exc:
        message, param = _param_from_litestar(str(exc), None)
        raise ValidationFailed(message, param=param) from None


def raise_first(issues: list[SettingsIssue]) -> None:
    """The first rule a document breaks, as the API's 422."""
    if issues:
        first = issues[0]
        raise ValidationFailed(first.message, code=first.code, param=first.param)


def effective_for(
    platform: PortalSettingsPatch,
    overrides: PortalSettingsPatch,
    business_name: str | None,
    *,
    name_source: FieldOrigin = "account_profile",
) -> Effective:
    """Seed defaults <- platform <- account, with the business name the portal shows.

    The name is not a setting of the portal: Stripe shows the `business_profile.name`
    of the account whose branding the portal shows (`business_name`, from
    `branding.service.shown_name`), so that is filled in whatever was stored.
    """
    merged = merge(platform, without_business_name(overrides))
    settings = merged.settings
    fields = {
        path: FieldInfo(source=source, inherited=source != "account", applies=PORTAL[path])
        for path, source in merged.sources.items()
    }
    if business_name:
        custom = msgspec.structs.replace(settings.customisation, business_name=business_name)
        settings = msgspec.structs.replace(settings, customisation=custom)
        fields["customisation.business_name"] = FieldInfo(
            source=name_source, inherited=True, applies=PORTAL["customisation.business_name"]
        )
    return Effective(settings, fields)


def without_business_name(patch: PortalSettingsPatch) -> PortalSettingsPatch:
    """`patch` less any business name (stored by versions before it became read-only)."""
    if patch.customisation is UNSET or patch.customisation.business_name is UNSET:
        return patch
    return apply_patch(patch, PortalSettingsPatch(), reset=["customisation.business_name"])


def check_business_name(patch: PortalSettingsPatch, shown: str | None, whose: str) -> None:
    """Refuse a business name other than the one the portal shows (422 `set_in_branding`).

    The same name is accepted (a document read, changed and sent back carries it)
    and dropped: it is never stored as an override.
    """
    if patch.customisation is UNSET:
        return
    name = patch.customisation.business_name
    if name is UNSET or name is None or name.strip() == (shown or "").strip():
        return
    raise ValidationFailed(
        f"customisation.business_name is not a portal setting: the portal shows {whose} "
        f"({shown!r}). {_WHERE_NAMES.get(whose, '')}".strip(),
        code="set_in_branding",
        param="customisation.business_name",
    )


_WHERE_NAMES: Final[dict[str, str]] = {
    "the account's business name": "Change it as the branding's display_name "
    "(PATCH /v1/accounts/{id}/branding), which the service writes to Stripe.",
    "the platform's business name": "It is set in the platform's Stripe Dashboard.",
}


def platform_document(platform: PortalSettingsPatch) -> PortalSettings:
    """What an account without overrides gets."""
    return effective_for(platform, PortalSettingsPatch(), None).settings


async def platform_patch(session: AsyncSession) -> PortalSettingsPatch:
    """The platform's stored defaults (empty when never set)."""
    row = await session.get(PlatformPortalSettings, PLATFORM_ROW_ID)
    return as_patch(row.patch) if row is not None else PortalSettingsPatch()


def diff(before: PortalSettings, after: PortalSettings) -> dict[str, dict[str, Any]]:
    """Dotted leaf path -> {"before", "after"} for every leaf that differs."""
    old, new = leaf_values(before), leaf_values(after)
    changes: dict[str, dict[str, Any]] = {}
    for path, value in new.items():
        a, b = dump(old[path]), dump(value)
        if a != b:
            changes[path] = {"before": a, "after": b}
    return changes
