"""The pure branding rules: colours, contrast, resolution per charge model, image checks."""

from __future__ import annotations

import io
import itertools
import os
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from platform_service.accounts.charge_models import ChargeModel
from platform_service.branding.images import (
    MAX_IMAGE_BYTES,
    STRIPE_FILE_PURPOSE,
    BrandingImageError,
    ImageInfo,
    check_branding_image,
)
from platform_service.branding.rules import (
    BORDER_STYLES,
    BRANDING_FIELDS,
    FONT_FAMILIES,
    BrandingCall,
    BrandingValues,
    ResolvedBranding,
    contrast_ratio,
    font_css,
    parse_hex_color,
    relative_luminance,
    resolve_branding,
)

ACCOUNT_ID = "acct_1TestSeller"

# ---------------------------------------------------------------- colours


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("#0A2540", "#0A2540"),
        ("#0a2540", "#0A2540"),
        ("#aBcDeF", "#ABCDEF"),
        ("#000000", "#000000"),
        ("#ffffff", "#FFFFFF"),
    ],
)
def test_parse_hex_color_accepts_six_digits_and_upper_cases(raw: str, expected: str) -> None:
    assert parse_hex_color(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("#FFF", "3-digit shorthand"),
        ("#fff", "#FFFFFF"),
        ("red", "not a hex colour"),
        ("rgb(0,0,0)", "not a hex colour"),
        ("123456", "missing the leading '#'"),
        ("abc", "expected #AABBCC"),
        ("#GGGGGG", "non-hex characters 'G'"),
        ("#12345", "5 hex digits"),
        ("#1234567", "7 hex digits"),
        ("#11223344", "alpha channel"),
        ("#", "0 hex digits"),
        ("", "empty"),
        (" #123456", "whitespace"),
        ("#123456\n", "whitespace"),
    ],
)
def test_parse_hex_color_rejects_with_a_message_saying_what_is_wrong(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_hex_color(raw)


def test_parse_hex_color_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="expected a colour string"):
        parse_hex_color(0x123456)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=0xFFFFFF), st.booleans())
def test_parse_hex_color_round_trips_every_colour(value: int, lower: bool) -> None:
    text = f"#{value:06x}" if lower else f"#{value:06X}"
    assert parse_hex_color(text) == f"#{value:06X}"


@pytest.mark.parametrize(
    ("a", "b", "ratio"),
    [
        ("#000000", "#FFFFFF", 21.0),
        ("#FFFFFF", "#000000", 21.0),
        ("#FFFFFF", "#FFFFFF", 1.0),
        # Reference values from the WebAIM contrast checker.
        ("#777777", "#FFFFFF", 4.48),
        ("#767676", "#FFFFFF", 4.54),
        ("#FF0000", "#FFFFFF", 4.0),
        ("#949494", "#FFFFFF", 3.03),
        ("#0000FF", "#000000", 2.44),
    ],
)
def test_contrast_ratio_matches_wcag_reference_values(a: str, b: str, ratio: float) -> None:
    assert contrast_ratio(a, b) == pytest.approx(ratio, abs=0.01)


def test_relative_luminance_uses_the_srgb_curve() -> None:
    assert relative_luminance("#000000") == 0.0
    assert relative_luminance("#FFFFFF") == pytest.approx(1.0)
    # 0x80/255 = 0.502 -> ((0.502 + 0.055) / 1.055) ** 2.4 = 0.2158
    assert relative_luminance("#808080") == pytest.approx(0.2158, abs=1e-4)


colours = st.integers(min_value=0, max_value=0xFFFFFF).map(lambda v: f"#{v:06X}")


@given(colours, colours)
def test_contrast_ratio_is_symmetric_and_bounded(a: str, b: str) -> None:
    ratio = contrast_ratio(a, b)
    assert ratio == pytest.approx(contrast_ratio(b, a))
    assert 1.0 <= ratio <= 21.0 + 1e-9


# ---------------------------------------------------------------- values


def test_branding_values_normalise_colours_on_construction_and_decode() -> None:
    built = BrandingValues(button_color="#0a2540", background_color="#ffffff")
    decoded = msgspec.json.decode(
        b'{"button_color": "#0a2540", "background_color": "#ffffff"}', type=BrandingValues
    )
    assert built.button_color == decoded.button_color == "#0A2540"
    assert built.background_color == decoded.background_color == "#FFFFFF"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"button_color": "#FFF"}, "button_color: '#FFF' is 3-digit shorthand"),
        ({"background_color": "blue"}, "background_color: 'blue' is not a hex colour"),
        ({"icon": "img_123"}, "icon: 'img_123' is not a Stripe File id"),
        ({"logo": "file_"}, "logo: 'file_' is not a Stripe File id"),
        ({"display_name": "   "}, "display_name: must not be blank"),
        ({"font_family": "x; background: url(evil)"}, "font_family"),
        ({"font_family": "</style><script>"}, "font_family"),
        ({"font_family": "Inter, sans-serif"}, "is not one of Stripe's fonts"),
        ({"font_family": "Inter"}, "is not one of Stripe's fonts"),
        ({"border_style": "square"}, "border_style: 'square' is not one of"),
    ],
)
def test_branding_values_reject_bad_fields_naming_the_field(
    fields: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        BrandingValues(**fields)  # type: ignore[arg-type]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(fields), type=BrandingValues)


def test_branding_values_accept_every_stripe_font_and_every_border_style() -> None:
    for font, style in itertools.product(FONT_FAMILIES, BORDER_STYLES):
        BrandingValues(font_family=font, border_style=style)  # type: ignore[arg-type]


def test_font_families_are_exactly_the_ones_stripes_checkout_takes() -> None:
    from stripe.params.checkout._session_create_params import (
        SessionCreateParamsBrandingSettings,
    )

    hint = SessionCreateParamsBrandingSettings.__annotations__["font_family"]
    declared = re.findall(r"'([a-z0-9_]+)'", str(hint))
    assert sorted(FONT_FAMILIES) == sorted(set(declared))


def test_font_css_names_the_font_with_a_generic_fallback() -> None:
    assert font_css("open_sans") == "'Open Sans', sans-serif"
    assert font_css("roboto_slab") == "'Roboto Slab', serif"
    assert font_css("ubuntu_mono") == "'Ubuntu Mono', monospace"
    assert font_css("default") is None
    assert font_css(None) is None


def test_branding_values_forbid_unknown_fields() -> None:
    with pytest.raises(msgspec.ValidationError, match="primary_color"):
        msgspec.json.decode(b'{"primary_color": "#000000"}', type=BrandingValues)


def test_branding_values_encode_only_what_is_set() -> None:
    assert msgspec.json.encode(BrandingValues(icon="file_1")) == b'{"icon":"file_1"}'


def test_stripe_file_purposes() -> None:
    assert STRIPE_FILE_PURPOSE == {"logo": "business_logo", "icon": "business_icon"}


# ---------------------------------------------------------------- resolution

# Distinct values per side so the effective result shows where each came from.
ACCOUNT_FULL: dict[str, str] = {
    "display_name": "Seller Shop",
    "logo": "file_acctlogo",
    "icon": "file_accticon",
    "button_color": "#0A2540",
    "background_color": "#F6F9FC",
    "font_family": "lora",
    "border_style": "pill",
}
PLATFORM_FULL: dict[str, str] = {
    "display_name": "Platform Inc",
    "logo": "file_platlogo",
    "icon": "file_platicon",
    "button_color": "#EEEEEE",  # low contrast against #F6F9FC and #FFFFFF
    "background_color": "#FFFFFF",
    "font_family": "inter",
    "border_style": "rounded",
}
# The platform's own branding as Stripe holds it (what platform-source portals show).
PLATFORM_STRIPE = BrandingValues(
    display_name="Platform on Stripe",
    icon="file_stripeicon",
    button_color="#0A2540",
    background_color="#FFFFFF",
)
MASKS = list(itertools.product([False, True], repeat=len(BRANDING_FIELDS)))


def _values(full: dict[str, str], mask: tuple[bool, ...]) -> BrandingValues:
    return msgspec.convert(
        {f: full[f] for f, on in zip(BRANDING_FIELDS, mask) if on}, BrandingValues
    )


EXPECTED_CALL = {
    ChargeModel.DIRECT: BrandingCall(stripe_account=ACCOUNT_ID),
    ChargeModel.DESTINATION_ON_BEHALF_OF: BrandingCall(on_behalf_of=ACCOUNT_ID),
    ChargeModel.DESTINATION: BrandingCall(),
    ChargeModel.SEPARATE_CHARGES_AND_TRANSFERS: BrandingCall(),
}
EXPECTED_SOURCE = {
    ChargeModel.DIRECT: "connected_account",
    ChargeModel.DESTINATION_ON_BEHALF_OF: "connected_account",
    ChargeModel.DESTINATION: "platform",
    ChargeModel.SEPARATE_CHARGES_AND_TRANSFERS: "platform",
}


def _check(
    model: ChargeModel,
    account: BrandingValues,
    defaults: BrandingValues,
    platform: BrandingValues | None,
    result: ResolvedBranding,
) -> None:
    assert result.source == EXPECTED_SOURCE[model]
    assert result.call == EXPECTED_CALL[model]
    warnings = list(result.warnings)

    if result.source == "connected_account":
        assert ACCOUNT_ID in result.reason
        assert "account's branding" in result.reason
        for field in BRANDING_FIELDS:
            own, fallback = getattr(account, field), getattr(defaults, field)
            assert getattr(result.branding, field) == (own if own is not None else fallback)
        assert result.inherited == [
            f
            for f in BRANDING_FIELDS
            if getattr(account, f) is None and getattr(defaults, f) is not None
        ]
        stand_in = [w for w in warnings if "no display name of its own" in w]
        assert bool(stand_in) == ("display_name" in result.inherited)
        warnings = [w for w in warnings if w not in stand_in]
    else:
        assert "platform's branding" in result.reason
        assert "not used" in result.reason
        assert result.branding == (platform if platform is not None else defaults)
        unread = [w for w in warnings if "has not been read from Stripe" in w]
        assert len(unread) == (platform is None)
        warnings = [w for w in warnings if w not in unread]
        assert result.inherited == []
        ignored = [w for w in warnings if "is not shown to its customers" in w]
        assert len(ignored) == (1 if account.set_fields() else 0)
        if ignored:
            assert f"({', '.join(account.set_fields())})" in ignored[0]
        warnings = [w for w in warnings if w not in ignored]

    effective = result.branding
    expected = 0
    if effective.display_name is None:
        expected += 1
        assert any(w.startswith("No display name is set") for w in warnings)
    if effective.icon is None:
        expected += 1
        marker = "Only a logo is set" if effective.logo is not None else "No icon is set"
        assert any(w.startswith(marker) for w in warnings)
    if (
        effective.button_color
        and effective.background_color
        and contrast_ratio(effective.button_color, effective.background_color) < 3
    ):
        expected += 1
        assert any(w.startswith("Low contrast") for w in warnings)
    assert len(warnings) == expected, warnings


def test_resolution_for_every_charge_model_and_every_mix_of_set_fields() -> None:
    # 4 charge models x 2^7 account masks x 2^7 default masks x platform read or not
    # = 131,072 cases.
    accounts = [_values(ACCOUNT_FULL, m) for m in MASKS]
    defaults = [_values(PLATFORM_FULL, m) for m in MASKS]
    for model, account, default, platform in itertools.product(
        ChargeModel, accounts, defaults, (None, PLATFORM_STRIPE)
    ):
        result = resolve_branding(
            account_id=ACCOUNT_ID,
            charge_model=model,
            account=account,
            defaults=default,
            platform=platform,
        )
        _check(model, account, default, platform, result)


branding_values = st.builds(
    BrandingValues,
    display_name=st.none() | st.text(min_size=1).filter(str.strip),
    logo=st.none() | st.from_regex(r"file_[A-Za-z0-9]{1,24}", fullmatch=True),
    icon=st.none() | st.from_regex(r"file_[A-Za-z0-9]{1,24}", fullmatch=True),
    button_color=st.none() | colours.map(str.lower),
    background_color=st.none() | colours,
    font_family=st.none() | st.sampled_from(FONT_FAMILIES),
    border_style=st.none() | st.sampled_from(BORDER_STYLES),
)


@given(st.sampled_from(ChargeModel), branding_values, branding_values, st.none() | branding_values)
def test_resolution_holds_for_arbitrary_values(
    model: ChargeModel,
    account: BrandingValues,
    defaults: BrandingValues,
    platform: BrandingValues | None,
) -> None:
    result = resolve_branding(
        account_id=ACCOUNT_ID,
        charge_model=model,
        account=account,
        defaults=defaults,
        platform=platform,
    )
    _check(model, account, defaults, platform, result)
    # The result is an API payload: it must survive a JSON round trip unchanged.
    assert msgspec.json.decode(msgspec.json.encode(result), type=ResolvedBranding) == result


def test_resolution_accepts_the_charge_model_as_its_string_value() -> None:
    result = resolve_branding(
        account_id=ACCOUNT_ID,
        charge_model="direct",  # type: ignore[arg-type]
        account=BrandingValues(),
        defaults=BrandingValues(),
        platform=None,
    )
    assert result.call.stripe_account == ACCOUNT_ID


def test_resolution_rejects_an_id_that_is_not_an_account() -> None:
    with pytest.raises(ValueError, match="acct_"):
        resolve_branding(
            account_id="cus_123",
            charge_model=ChargeModel.DIRECT,
            account=BrandingValues(),
            defaults=BrandingValues(),
            platform=None,
        )


def test_call_shape_encodes_only_the_routing_it_needs() -> None:
    def call(model: ChargeModel) -> bytes:
        resolved = resolve_branding(
            account_id=ACCOUNT_ID,
            charge_model=model,
            account=BrandingValues(),
            defaults=BrandingValues(),
            platform=None,
        )
        return msgspec.json.encode(resolved.call)

    assert call(ChargeModel.DIRECT) == b'{"stripe_account":"acct_1TestSeller"}'
    assert call(ChargeModel.DESTINATION_ON_BEHALF_OF) == b'{"on_behalf_of":"acct_1TestSeller"}'
    assert call(ChargeModel.DESTINATION) == b"{}"
    assert call(ChargeModel.SEPARATE_CHARGES_AND_TRANSFERS) == b"{}"


def test_low_contrast_warning_gives_the_ratio_and_the_colours() -> None:
    result = resolve_branding(
        account_id=ACCOUNT_ID,
        charge_model=ChargeModel.DIRECT,
        account=BrandingValues(button_color="#cccccc", background_color="#ffffff"),
        defaults=BrandingValues(),
        platform=None,
    )
    [warning] = [w for w in result.warnings if w.startswith("Low contrast")]
    assert "#CCCCCC" in warning
    assert "#FFFFFF" in warning
    assert "1.61:1" in warning


def test_contrast_at_exactly_three_to_one_is_accepted() -> None:
    # #949494 on white is 3.03:1, #959595 is 2.99:1: the threshold sits between.
    def warned(button: str) -> bool:
        result = resolve_branding(
            account_id=ACCOUNT_ID,
            charge_model=ChargeModel.DIRECT,
            account=BrandingValues(button_color=button, background_color="#FFFFFF"),
            defaults=BrandingValues(),
            platform=None,
        )
        return any(w.startswith("Low contrast") for w in result.warnings)

    assert contrast_ratio("#949494", "#FFFFFF") > 3 > contrast_ratio("#959595", "#FFFFFF")
    assert not warned("#949494")
    assert warned("#959595")


def test_fully_branded_account_on_direct_charges_has_no_warnings() -> None:
    result = resolve_branding(
        account_id=ACCOUNT_ID,
        charge_model=ChargeModel.DIRECT,
        account=BrandingValues(**ACCOUNT_FULL),  # type: ignore[arg-type]
        defaults=BrandingValues(),
        platform=None,
    )
    assert result.warnings == []
    assert result.inherited == []


# ---------------------------------------------------------------- images


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=(10, 37, 64) if mode == "RGB" else 0).save(
        buffer, format=fmt, **save
    )
    return buffer.getvalue()


def _noise_png(side: int) -> bytes:
    # Random pixels do not compress, so the file size follows the pixel count.
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("purpose", ["logo", "icon"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_good_square_images_pass_for_both_purposes(fmt: str, purpose: str) -> None:
    data = _image(fmt, (256, 256))
    info = check_branding_image(data, purpose=purpose)  # type: ignore[arg-type]
    assert info == ImageInfo(format=fmt, width=256, height=256, size_bytes=len(data))  # type: ignore[arg-type]
    assert info.content_type == ("image/png" if fmt == "PNG" else "image/jpeg")


def test_a_wide_logo_passes_but_a_wide_icon_does_not() -> None:
    data = _image("PNG", (512, 128))
    assert check_branding_image(data, purpose="logo").width == 512
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(data, purpose="icon")
    assert caught.value.rule == "not_square"
    assert "512x128" in caught.value.message


def test_the_128_pixel_minimum_is_inclusive() -> None:
    assert check_branding_image(_image("PNG", (128, 128)), purpose="icon").height == 128


@pytest.mark.parametrize("size", [(127, 127), (128, 127), (127, 300), (16, 16)])
@pytest.mark.parametrize("purpose", ["logo", "icon"])
def test_images_under_128_pixels_are_too_small(size: tuple[int, int], purpose: str) -> None:
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(_image("PNG", size), purpose=purpose)  # type: ignore[arg-type]
    assert caught.value.rule == "too_small"
    assert f"{size[0]}x{size[1]}" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not an image",
        b"%PDF-1.7\n" + b"0" * 2000,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing real after it
    ],
)
def test_non_images_are_refused_as_not_an_image(data: bytes) -> None:
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(data, purpose="logo")
    assert caught.value.rule == "not_an_image"


def test_a_truncated_image_is_not_an_image() -> None:
    data = _noise_png(200)
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(data[: len(data) // 2], purpose="logo")
    assert caught.value.rule == "not_an_image"


@pytest.mark.parametrize(
    ("fmt", "mode"), [("GIF", "P"), ("BMP", "RGB"), ("WEBP", "RGB"), ("TIFF", "RGB")]
)
def test_other_formats_are_unsupported(fmt: str, mode: str) -> None:
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(_image(fmt, (256, 256), mode=mode), purpose="icon")
    assert caught.value.rule == "unsupported_format"
    assert fmt in caught.value.message


def test_noise_over_512_kb_is_too_large() -> None:
    data = _noise_png(512)
    assert len(data) > MAX_IMAGE_BYTES
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(data, purpose="icon")
    assert caught.value.rule == "too_large"
    assert "512 KB" in caught.value.message


def test_the_size_limit_is_strictly_under_512_kb() -> None:
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(b"\x00" * MAX_IMAGE_BYTES, purpose="logo")
    assert caught.value.rule == "too_large"
    # One byte less gets past the size rule (and fails on content instead).
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(b"\x00" * (MAX_IMAGE_BYTES - 1), purpose="logo")
    assert caught.value.rule == "not_an_image"


def test_a_small_file_declaring_huge_dimensions_is_refused_before_decoding() -> None:
    data = _image("PNG", (6000, 6000), mode="1")  # ~36 MP of flat colour, a few KB
    assert len(data) < MAX_IMAGE_BYTES
    with pytest.raises(BrandingImageError) as caught:
        check_branding_image(data, purpose="icon")
    assert caught.value.rule == "too_large"
    assert "megapixels" in caught.value.message


def test_the_error_is_a_value_error_carrying_rule_and_message() -> None:
    error = BrandingImageError("too_small", "The image is 1x1 pixels")
    assert isinstance(error, ValueError)
    assert (error.rule, error.message, str(error)) == (
        "too_small",
        "The image is 1x1 pixels",
        "The image is 1x1 pixels",
    )


def test_resolution_always_encodes_inherited_and_warnings() -> None:
    resolved = resolve_branding(
        account_id=ACCOUNT_ID,
        charge_model=ChargeModel.DIRECT,
        account=BrandingValues(**ACCOUNT_FULL),  # type: ignore[arg-type]
        defaults=BrandingValues(),
        platform=None,
    )
    encoded = msgspec.json.decode(msgspec.json.encode(resolved))
    assert encoded["inherited"] == []
    assert encoded["warnings"] == []
    assert encoded["call"] == {"stripe_account": ACCOUNT_ID}
