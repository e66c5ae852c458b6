"""Branding's part in bulk jobs (`bulk.appliers.BulkApplier`, satisfied structurally).

A job's images are uploaded once, at submission, and every item sets the same
file ids. Problems name the branding field (bulk puts it under `patch.`), or
`files.<purpose>` for an upload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.branding.files import upload_branding_file
from platform_service.branding.images import ImagePurpose
from platform_service.branding.patches import validate_branding_patch
from platform_service.branding.service import apply_branding_patch
from platform_service.errors import PayloadTooLarge, ValidationFailed
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway

_PURPOSES: tuple[ImagePurpose, ...] = get_args(ImagePurpose)


class BrandingApplier:
    """Bulk branding jobs: a branding PATCH applied to each account."""

    kind = "branding"

    async def prepare(
        self,
        session: AsyncSession,
        gateway: StripeGateway,
        settings: Settings,
        patch: dict[str, Any],
        files: Mapping[str, bytes],
    ) -> dict[str, Any]:
        """The patch with each image (keyed logo/icon) uploaded once and set by file id."""
        prepared = dict(patch)
        for purpose, data in files.items():
            if purpose not in _PURPOSES:
                raise ValidationFailed(
                    f"files: {purpose!r} is not one of {', '.join(_PURPOSES)}.",
                    param=f"files.{purpose}",
                )
            try:
                prepared[purpose] = await upload_branding_file(
                    session,
                    gateway,
                    max_upload_bytes=settings.max_upload_bytes,
                    purpose=purpose,
                    data=data,
                    filename=f"bulk-{purpose}",
                )
            except (ValidationFailed, PayloadTooLarge) as exc:
                exc.param = f"files.{purpose}"
                raise
        return prepared

    def validate(self, patch: dict[str, Any]) -> None:
        """The patch's first problem, as `ValidationFailed` naming the field."""
        issues = validate_branding_patch(patch)
        if issues:
            param, message = issues[0]
            raise ValidationFailed(message, param=param)

    # Applying is the domain's own patch function, in the bulk item's session,
    # with the job's idempotency key.
    apply = staticmethod(apply_branding_patch)
