"""The pure parts of the branding service: patch validation, the Stripe write plan, drift."""

from __future__ import annotations

from typing import Any

import pytest

from platform_service.branding import drift, patches, writeplan
from platform_service.branding.rules import BrandingValues
from platform_service.errors import ValidationFailed


def test_valid_patch_has_no_problems() -> None:
    patch = {
        "display_name": "Shop",
        "logo": "file_abc",
        "icon": None,
        "button_color": "#0a2540",
        "background_color": "#FFFFFF",
        "font_family": "inter",
        "border_style": "pill",
    }
    assert patches.validate_branding_patch(patch) == []


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"button_color": "red"}, "button_color"),
        ({"background_color": "#12345"}, "background_color"),
        ({"button_color": 12}, "button_color"),
        ({"icon": "img_1"}, "icon"),
        ({"font_family": "a{b}"}, "font_family"),
        ({"border_style": "round"}, "border_style"),
        ({"display_name": "  "}, "display_name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"shadow": True}, "shadow"),
    ],
)
def test_each_problem_names_its_param(patch: dict[str, Any], param: str) -> None:
    problems = patches.validate_branding_patch(patch)
    assert [p for p, _ in problems] == [param]
    assert problems[0][1]
    with pytest.raises(ValidationFailed) as info:
        patches.normalise_patch(patch)
    assert info.value.param == param


def test_all_problems_are_reported_at_once() -> None:
    problems = patches.validate_branding_patch({"button_color": "x", "border_style": "y"})
    assert {p for p, _ in problems} == {"button_color", "border_style"}


def test_normalise_upper_cases_colours_and_keeps_nulls() -> None:
    assert patches.normalise_patch({"button_color": "#abcdef", "logo": None}) == {
        "button_color": "#ABCDEF",
        "logo": None,
    }


def _targets(**own: Any) -> dict[str, Any]:
    return writeplan.stripe_targets(own, BrandingValues(background_color="#FAFAFA"))


def test_write_plan_sends_own_values_with_platform_fallbacks() -> None:
    params, written = writeplan.plan_write(
        _targets(button_color="#000000", display_name="Shop"), {}, "Old"
    )
    assert params == {
        "settings": {"branding": {"primary_color": "#000000", "secondary_color": "#FAFAFA"}},
        "business_profile": {"name": "Shop"},
    }
    assert written == {
        "button_color": "#000000",
        "background_color": "#FAFAFA",
        "display_name": "Shop",
    }


def test_write_plan_is_empty_when_stripe_already_holds_it() -> None:
    last = {"button_color": "#000000", "background_color": "#fafafa", "display_name": "Shop"}
    params, _ = writeplan.plan_write(
        _targets(button_color="#000000", display_name="Shop"), last, "Shop"
    )
    assert params is None


def test_write_plan_refuses_to_clear_what_stripe_cannot_clear() -> None:
    with pytest.raises(ValidationFailed) as info:
        writeplan.plan_write(_targets(), {"icon": "file_1"}, None)
    assert info.value.code == "branding_field_not_clearable"
    assert info.value.param == "icon"


def test_drift_compares_only_written_fields_and_colours_case_insensitively() -> None:
    expected = {"button_color": "#0A2540", "icon": "file_1"}
    stripe = drift.stripe_view(
        {
            "business_profile": {"name": "Changed outside"},
            "settings": {
                "branding": {"primary_color": "#0a2540", "icon": {"id": "file_2"}, "logo": None}
            },
        }
    )
    assert drift.compare(expected, stripe) == {"icon": {"expected": "file_1", "stripe": "file_2"}}
