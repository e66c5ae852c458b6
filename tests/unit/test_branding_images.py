"""The two steps of the image check: header rules that decode nothing, then one decode."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from platform_service.branding.images import (
    MAX_IMAGE_PIXELS,
    BrandingImageError,
    ImageInfo,
    decode_branding_image,
    read_branding_image,
)


def png(size: tuple[int, int], mode: str = "RGB", noise: bool = False) -> bytes:
    if noise:
        img = Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))
    else:
        img = Image.new(mode, size)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """The header and the start of the pixel data: open() reads it, load() cannot."""
    pixels = data.index(b"IDAT") + 4
    cut = data[: pixels + (len(data) - pixels) // 2]
    with Image.open(io.BytesIO(cut)) as img:
        assert img.size  # the header survived the cut
    return cut


def test_reading_accepts_a_whole_header_without_looking_at_the_pixels() -> None:
    data = truncated(png((200, 200), noise=True))
    assert read_branding_image(data, purpose="icon") == ImageInfo(
        format="PNG", width=200, height=200, size_bytes=len(data)
    )


def test_a_truncated_body_is_caught_by_the_decode() -> None:
    with pytest.raises(BrandingImageError) as caught:
        decode_branding_image(truncated(png((200, 200), noise=True)))
    assert caught.value.rule == "not_an_image"
    assert "could not be decoded" in caught.value.message


def test_a_header_claiming_too_many_pixels_is_too_large_though_the_body_is_cut() -> None:
    data = truncated(png((6000, 6000), mode="1"))
    assert MAX_IMAGE_PIXELS < 6000 * 6000
    with pytest.raises(BrandingImageError) as caught:
        read_branding_image(data, purpose="logo")
    assert caught.value.rule == "too_large"
    assert "6000x6000 pixels" in caught.value.message


@pytest.mark.parametrize(
    ("size", "purpose", "rule"),
    [((100, 100), "logo", "too_small"), ((400, 200), "icon", "not_square")],
)
def test_side_rules_come_from_the_header_of_a_cut_file(
    size: tuple[int, int], purpose: str, rule: str
) -> None:
    with pytest.raises(BrandingImageError) as caught:
        read_branding_image(truncated(png(size, noise=True)), purpose=purpose)  # type: ignore[arg-type]
    assert caught.value.rule == rule


def test_exactly_the_pixel_cap_is_read_and_decoded() -> None:
    data = png((5000, 5000))
    assert read_branding_image(data, purpose="icon").width == 5000
    decode_branding_image(data)
