"""The branding image rules (Stripe's, plus a pixel cap), checked on the bytes alone.

Pure like `rules`: no database, HTTP or Stripe, so every rule is tested
exhaustively; `files` applies them before anything is uploaded. Two steps, by
cost: `read_branding_image` answers every rule from the header alone, and
`decode_branding_image` (the only CPU-heavy part) proves the pixels are whole.
"""

from __future__ import annotations

import io
import warnings
from typing import Final, Literal

import msgspec
from PIL import Image, UnidentifiedImageError

ImagePurpose = Literal["logo", "icon"]
ImageRule = Literal["not_an_image", "unsupported_format", "too_large", "too_small", "not_square"]
ImageFormat = Literal["JPEG", "PNG"]

# Stripe's branding guide: "JPG or PNG, under 512 KB, at least 128x128" (the
# file-upload guide also allows GIF; we hold to the stricter branding rule).
MAX_IMAGE_BYTES: Final = 512 * 1024
MIN_IMAGE_SIDE: Final = 128
# Not a Stripe rule: a 512 KB PNG can declare hundreds of megapixels of flat
# colour, so cap the pixel count before decoding to keep uploads from
# exhausting memory (a decompression bomb). 25 MP is far above any logo.
MAX_IMAGE_PIXELS: Final = 25_000_000

STRIPE_FILE_PURPOSE: Final[dict[ImagePurpose, str]] = {
    "logo": "business_logo",
    "icon": "business_icon",
}


class ImageInfo(msgspec.Struct, kw_only=True, frozen=True):
    """What `read_branding_image` found in an accepted image's header."""

    format: ImageFormat
    width: int
    height: int
    size_bytes: int

    @property
    def content_type(self) -> str:
        return "image/jpeg" if self.format == "JPEG" else "image/png"


class BrandingImageError(ValueError):
    """An upload broke one branding image rule; `rule` names which, `message` says how."""

    def __init__(self, rule: ImageRule, message: str) -> None:
        super().__init__(message)
        self.rule: ImageRule = rule
        self.message = message


def read_branding_image(data: bytes, *, purpose: ImagePurpose) -> ImageInfo:
    """Enforce every branding rule the bytes and the image header can answer, decoding nothing."""
    size = len(data)
    # Size first: it is free, and it stops large payloads before Pillow sees them.
    if size >= MAX_IMAGE_BYTES:
        raise BrandingImageError(
            "too_large",
            f"The image is {size} bytes ({size / 1024:.0f} KB); Stripe takes branding "
            f"images under {MAX_IMAGE_BYTES // 1024} KB.",
        )
    if size == 0:
        raise BrandingImageError("not_an_image", "The upload is empty; send a PNG or JPEG file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # open() is lazy: it parses the header (format, size) and leaves the
            # pixels alone, so every rule below costs microseconds, whatever the
            # image claims to hold.
            with Image.open(io.BytesIO(data)) as img:
                fmt = _stripe_format(img.format)
                width, height = img.size
    except BrandingImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BrandingImageError(
            "too_large",
            f"The image declares more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels.",
        ) from None
    except UnidentifiedImageError:
        raise BrandingImageError(
            "not_an_image", "The upload is not an image Pillow can read; send a PNG or JPEG file."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _undecodable(exc) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise BrandingImageError(
            "too_large",
            f"The image is {width}x{height} pixels; at most "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels are accepted.",
        )
    if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
        raise BrandingImageError(
            "too_small",
            f"The image is {width}x{height} pixels; Stripe needs at least "
            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}.",
        )
    if purpose == "icon" and width != height:
        raise BrandingImageError(
            "not_square",
            f"The icon is {width}x{height} pixels; Stripe needs a square icon.",
        )
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=size)


def decode_branding_image(data: bytes) -> None:
    """Decode every pixel of an image `read_branding_image` passed: CPU-bound, keep off the loop."""
    # The one decode an upload gets, and the only way to know the file is whole:
    # a truncated or corrupt body has a perfectly good header, and Stripe would
    # store it and show a broken logo. (PNG's verify() only checks chunk CRCs and
    # JPEG has none, so it is no substitute.) The pixel cap is already enforced,
    # which bounds what this costs: 25 MP is at most 100 MB and a few hundred ms.
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _undecodable(exc) from None


def check_branding_image(data: bytes, *, purpose: ImagePurpose) -> ImageInfo:
    """Enforce Stripe's branding image rules: the header's first, then one full decode."""
    info = read_branding_image(data, purpose=purpose)
    decode_branding_image(data)
    return info


def _stripe_format(name: str | None) -> ImageFormat:
    # MPO is how Pillow names the multi-picture JPEGs phones write; the file is
    # a JPEG to everyone else, Stripe included.
    if name in ("JPEG", "MPO"):
        return "JPEG"
    if name == "PNG":
        return "PNG"
    raise BrandingImageError(
        "unsupported_format",
        f"The image is {name or 'an unknown format'}; Stripe takes "
        "branding images as PNG or JPEG only.",
    )


def _undecodable(exc: BaseException) -> BrandingImageError:
    return BrandingImageError(
        "not_an_image", f"The image could not be decoded ({exc}); it may be truncated."
    )
