"""Image checks for branding uploads, read with Pillow as Stripe reads the real bytes."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

MAX_BRANDING_BYTES = 512 * 1024
MIN_SIDE = 128
_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif"}


def sniff(blob: bytes) -> tuple[str, int, int] | None:
    """(file type, width, height), or None when the bytes are not an image Stripe takes."""
    try:
        with Image.open(io.BytesIO(blob)) as image:
            kind = _FORMATS.get(image.format or "")
            if kind is None:
                return None
            return kind, image.width, image.height
    except (UnidentifiedImageError, OSError):
        return None


def check_upload(blob: bytes) -> str | None:
    """Why a `business_icon`/`business_logo` upload is refused, or None."""
    if len(blob) > MAX_BRANDING_BYTES:
        return f"file is {len(blob)} bytes; branding images must be under 512 KB"
    if sniff(blob) is None:
        return "branding images must be JPEG, PNG or GIF"
    return None


def check_branding_image(blob: bytes, *, square: bool) -> str | None:
    """Why a stored file cannot be an account's icon (square) or logo, or None."""
    info = sniff(blob)
    if info is None:
        return "not an image"
    _, width, height = info
    if min(width, height) < MIN_SIDE:
        return f"must be at least {MIN_SIDE}px x {MIN_SIDE}px (got {width}x{height})"
    if square and width != height:
        return f"the icon must be square (got {width}x{height})"
    return None
