from __future__ import annotations

import pytest

from platform_service.errors import _param_from_msgspec


@pytest.mark.parametrize(
    ("message", "text", "param"),
    [
        ("Expected `str`, got `int` - at `$.email`", "Expected `str`, got `int`", "email"),
        ("Object contains unknown field `colour` - at `$`", "Unknown field `colour`", "colour"),
        (
            "Object missing required field `email` - at `$`",
            "Missing required field `email`",
            "email",
        ),
        (
            "Expected `str`, got `int` - at `$.items[2].id`",
            "Expected `str`, got `int`",
            "items[2].id",
        ),
        ("Object contains unknown field `x` - at `$.branding`", "Unknown field `x`", "branding.x"),
        ("plain message", "plain message", None),
    ],
)
def test_msgspec_paths_become_params(message: str, text: str, param: str | None) -> None:
    assert _param_from_msgspec(message) == (text, param)
