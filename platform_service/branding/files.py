"""Branding images: checked, uploaded once on the platform per content hash, reused by id.

Files are uploaded on the platform (a file uploaded on the connected account
fails with "No such file upload" when set on it) and kept in the files table,
which also serves the preview its `data:` URIs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.branding.images import (
    STRIPE_FILE_PURPOSE,
    BrandingImageError,
    ImagePurpose,
    decode_branding_image,
    read_branding_image,
)
from platform_service.branding.models import BrandingFile
from platform_service.branding.schemas import BrandingFileOut
from platform_service.db.base import utcnow
from platform_service.errors import PayloadTooLarge, ValidationFailed
from platform_service.stripe.gateway import JSON, StripeGateway
from platform_service.stripe.idempotency import idempotency_key

# Decodes run in worker threads, at most this many at once: a 25 MP decode holds
# up to 100 MB and a core for a few hundred ms, so a burst of uploads queues
# here (waiting costs nothing) rather than taking every thread and core the
# server has. Module-level, as anyio binds it to the event loop on first use.
DECODE_LIMITER: Final = anyio.CapacityLimiter(2)


def file_out(row: BrandingFile) -> BrandingFileOut:
    """A stored file as the API shows it (never its bytes)."""
    return BrandingFileOut(
        id=row.id,
        purpose=row.purpose,  # type: ignore[arg-type]
        format=row.format,  # type: ignore[arg-type]
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        created_at=row.created_at,
    )


def _image_error(exc: BrandingImageError) -> ValidationFailed | PayloadTooLarge:
    if exc.rule == "too_large":
        return PayloadTooLarge(exc.message, code="image_too_large", param="file")
    return ValidationFailed(exc.message, code=f"image_{exc.rule}", param="file")


async def store_branding_file(
    session: AsyncSession,
    gateway: StripeGateway,
    *,
    max_upload_bytes: int,
    purpose: ImagePurpose,
    data: bytes,
    filename: str,
) -> BrandingFile:
    """Check the image, then return the stored file for its content, uploading it once."""
    if len(data) > max_upload_bytes:
        raise PayloadTooLarge(
            f"The upload is {len(data)} bytes; at most {max_upload_bytes} are accepted.",
            code="image_too_large",
            param="file",
        )
    # Cheapest first: the header rules (no decoding), then the hash (a
    # re-upload is answered from the table), and only new content is decoded.
    try:
        info = read_branding_image(data, purpose=purpose)
    except BrandingImageError as exc:
        raise _image_error(exc) from None
    digest = hashlib.sha256(data).hexdigest()
    found = await _file_by_hash(session, digest, purpose)
    if found is not None:
        return found
    try:
        await anyio.to_thread.run_sync(decode_branding_image, data, limiter=DECODE_LIMITER)
    except BrandingImageError as exc:
        raise _image_error(exc) from None
    # The key and the name Stripe sees come from the content only, so the same
    # bytes uploaded twice (a retry, two sellers, a bulk job) are one Stripe file.
    extension = "png" if info.format == "PNG" else "jpg"
    uploaded: JSON = await gateway.upload_file(
        STRIPE_FILE_PURPOSE[purpose],  # type: ignore[arg-type]
        f"{purpose}-{digest[:16]}.{extension}",
        data,
        idempotency_key=idempotency_key("branding.file", purpose, digest),
    )
    row = BrandingFile(
        id=str(uploaded["id"]),
        sha256=digest,
        purpose=purpose,
        format=info.format,
        width=info.width,
        height=info.height,
        size_bytes=info.size_bytes,
        filename=(filename or "upload")[:255],
        content=data,
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = await _file_by_hash(session, digest, purpose)
        if found is None:
            raise
        return found
    return row


async def _file_by_hash(session: AsyncSession, digest: str, purpose: str) -> BrandingFile | None:
    stmt = select(BrandingFile).where(
        BrandingFile.sha256 == digest, BrandingFile.purpose == purpose
    )
    found: BrandingFile | None = await session.scalar(stmt)
    return found


async def upload_branding_file(
    session: AsyncSession,
    gateway: StripeGateway,
    *,
    max_upload_bytes: int,
    purpose: ImagePurpose,
    data: bytes,
    filename: str,
) -> str:
    """Check an image, upload it on the platform once per content hash; return its file id."""
    row = await store_branding_file(
        session,
        gateway,
        max_upload_bytes=max_upload_bytes,
        purpose=purpose,
        data=data,
        filename=filename,
    )
    return row.id


async def get_file(session: AsyncSession, file_id: str) -> BrandingFile | None:
    """A stored branding file by its Stripe File id."""
    return await session.get(BrandingFile, file_id)


async def check_file_ids(session: AsyncSession, fields: Mapping[str, Any]) -> None:
    """logo/icon must be files this service uploaded, for that purpose."""
    for name in ("logo", "icon"):
        file_id = fields.get(name)
        if file_id is None:
            continue
        found = await session.get(BrandingFile, file_id)
        if found is None:
            raise ValidationFailed(
                f"{name}: '{file_id}' is not a branding file uploaded through this service; "
                f"upload it with POST /v1/accounts/{{id}}/branding/{name} first.",
                code="unknown_branding_file",
                param=name,
            )
        if found.purpose != name:
            raise ValidationFailed(
                f"{name}: '{file_id}' was uploaded as a {found.purpose}, not a {name}.",
                code="branding_file_purpose_mismatch",
                param=name,
            )
