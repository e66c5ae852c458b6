"""A branding patch (PATCH-shaped dict of fields): every problem it has, and its normal form.

Shape and values only, no database: the API checks a patch with these before
applying it, and bulk jobs check theirs once, when the job is submitted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from platform_service.branding.rules import BRANDING_FIELDS, FONT_FAMILIES, BrandingValues
from platform_service.errors import ValidationFailed

_MAX_DISPLAY_NAME: Final = 200
_MSGSPEC_SUFFIX: Final = re.compile(r" - at `\$[^`]*`$")


def _field_error(name: str, value: Any) -> str | None:
    if name == "display_name" and isinstance(value, str) and len(value) > _MAX_DISPLAY_NAME:
        return f"display_name: at most {_MAX_DISPLAY_NAME} characters"
    if name == "font_family" and value not in FONT_FAMILIES:
        return f"font_family: {value!r} is not one of Stripe's fonts ({', '.join(FONT_FAMILIES)})"
    try:
        msgspec.convert({name: value}, BrandingValues)
    except msgspec.ValidationError as exc:
        text = _MSGSPEC_SUFFIX.sub("", str(exc))
        return text if text.startswith(f"{name}:") else f"{name}: {text}"
    return None


def validate_branding_patch(patch: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem in a PATCH-shaped dict, as (param, message); empty when valid.

    Checks shape and values only (no database): usable when a bulk job is
    submitted. Whether logo/icon ids are known uploads is checked on apply.
    """
    if not isinstance(patch, Mapping):
        return [("patch", "must be an object of branding fields")]
    problems: list[tuple[str, str]] = []
    for name, value in patch.items():
        if name not in BRANDING_FIELDS:
            problems.append((str(name), f"Unknown field `{name}`"))
        elif value is not None and (message := _field_error(name, value)) is not None:
            problems.append((name, message))
    return problems


def normalise_patch(patch: Mapping[str, Any]) -> dict[str, Any]:
    """The patch with colours upper-cased; `ValidationFailed` (with `param`) on the first problem."""
    problems = validate_branding_patch(patch)
    if problems:
        param, message = problems[0]
        raise ValidationFailed(message, param=param)
    values = msgspec.convert({k: v for k, v in patch.items() if v is not None}, BrandingValues)
    return {name: getattr(values, name) if patch[name] is not None else None for name in patch}
