"""The effective portal document: seed defaults <- platform defaults <- account overrides.

The platform's defaults and each account's overrides are stored as
`PortalSettingsPatch` JSON; `effective_for` layers them and says where every
field came from. Nothing here writes.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.errors import ValidationFailed, _param_from_litestar
from platform_service.portal.document import (
    PortalSettings,
    PortalSettingsPatch,
    leaf_values,
    merge,
)
from platform_service.portal.models import PlatformPortalSettings
from platform_service.portal.schemas import FieldInfo
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
    platform: PortalSettingsPatch, overrides: PortalSettingsPatch, business_name: str | None
) -> Effective:
    """Seed defaults <- platform <- account, with the account's own business name filled in."""
    merged = merge(platform, overrides)
    settings = merged.settings
    fields = {
        path: FieldInfo(source=source, inherited=source != "account")
        for path, source in merged.sources.items()
    }
    if settings.customisation.business_name is None and business_name:
        custom = msgspec.structs.replace(settings.customisation, business_name=business_name)
        settings = msgspec.structs.replace(settings, customisation=custom)
        fields["customisation.business_name"] = FieldInfo(source="account_profile", inherited=True)
    return Effective(settings, fields)


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
