"""Branding endpoints: platform defaults, account branding, uploads, effective, drift, preview."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

import msgspec
from litestar import Controller, Router, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody, Parameter
from litestar.response import Template
from litestar.status_codes import HTTP_201_CREATED

from platform_service.accounts import service as accounts_service
from platform_service.auth.guard import admin_only, ensure_account_access
from platform_service.auth.keys import Caller
from platform_service.branding import preview, service
from platform_service.branding.rules import ImagePurpose
from platform_service.branding.schemas import (
    AccountBrandingOut,
    BrandingPatch,
    BrandingPut,
    BrandingUploadOut,
    DriftReport,
    EffectiveBranding,
    PlatformBrandingOut,
)
from platform_service.deps import CallerDep, DbSession, RuntimeDep
from platform_service.errors import Forbidden
from platform_service.runtime import Runtime

TEMPLATES: Final = Path(__file__).parent / "templates"
# Room for the multipart envelope (boundaries, part headers) around the image.
MULTIPART_SLACK: Final = 16 * 1024

AccountId = FromPath[str]


@dataclass
class ImageUpload:
    """`multipart/form-data` with one part, `file`: a PNG or JPEG."""

    file: UploadFile


def _ensure_can_edit(caller: Caller, runtime: Runtime, account_id: str) -> None:
    ensure_account_access(caller, account_id)
    if not caller.is_admin and not runtime.settings.sellers_edit_branding:
        raise Forbidden(
            "The platform does not let sellers edit their branding "
            "(PLATFORM_SELLERS_EDIT_BRANDING is off); ask the platform to change it.",
            code="seller_branding_edit_disabled",
        )


def _fields(data: msgspec.Struct) -> dict[str, object]:
    return {
        name: value
        for name in data.__struct_fields__
        if (value := getattr(data, name)) is not msgspec.UNSET
    }


class PlatformBrandingController(Controller):
    path = "/v1/platform/branding"
    tags = ["Branding"]
    guards = [admin_only]

    @get(operation_id="RetrievePlatformBranding", summary="The platform's default branding")
    async def get_platform(self, db_session: DbSession) -> PlatformBrandingOut:
        return service.platform_out(await service.get_platform_row(db_session))

    @put(operation_id="ReplacePlatformBranding", summary="Replace the platform's defaults")
    async def put_platform(
        self, db_session: DbSession, caller: CallerDep, data: JSONBody[BrandingPut]
    ) -> PlatformBrandingOut:
        """Stored only; accounts that inherit a default get it on their next write."""
        row = await service.put_platform_branding(db_session, _fields(data), actor=caller.actor)
        return service.platform_out(row)


class AccountBrandingController(Controller):
    path = "/v1/accounts/{account_id:str}/branding"
    tags = ["Branding"]

    @get(operation_id="RetrieveAccountBranding", summary="An account's own branding")
    async def get_branding(
        self, db_session: DbSession, caller: CallerDep, account_id: AccountId
    ) -> AccountBrandingOut:
        """With the last write to Stripe and any drift seen since."""
        ensure_account_access(caller, account_id)
        row = await service.get_account_branding(db_session, account_id)
        return service.account_branding_out(account_id, row)

    @put(operation_id="ReplaceAccountBranding", summary="Replace an account's branding")
    async def put_branding(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[BrandingPut],
    ) -> AccountBrandingOut:
        """Fields left out are unset (they inherit the platform's); written to Stripe at once."""
        _ensure_can_edit(caller, runtime, account_id)
        row = await service.put_account_branding(
            db_session, runtime, account_id, _fields(data), actor=caller.actor
        )
        return service.account_branding_out(account_id, row)

    @patch(operation_id="UpdateAccountBranding", summary="Change some branding fields")
    async def patch_branding(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[BrandingPatch],
    ) -> AccountBrandingOut:
        """Only the fields sent change; null unsets one. Written to Stripe at once."""
        _ensure_can_edit(caller, runtime, account_id)
        row = await service.patch_account_branding(
            db_session, runtime, account_id, _fields(data), actor=caller.actor
        )
        return service.account_branding_out(account_id, row)

    async def _upload(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: str,
        upload: UploadFile,
        purpose: ImagePurpose,
    ) -> BrandingUploadOut:
        _ensure_can_edit(caller, runtime, account_id)
        await accounts_service.get_account(db_session, account_id)
        content = await upload.read()
        stored = await service.store_branding_file(
            db_session, runtime, purpose=purpose, data=content, filename=upload.filename
        )
        row = await service.patch_account_branding(
            db_session, runtime, account_id, {purpose: stored.id}, actor=caller.actor
        )
        return BrandingUploadOut(
            file=service.file_out(stored),
            branding=service.account_branding_out(account_id, row),
        )

    @post(
        "/logo",
        operation_id="UploadAccountLogo",
        summary="Upload a logo and set it on the account",
        status_code=HTTP_201_CREATED,
    )
    async def upload_logo(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: MultipartBody[ImageUpload],
    ) -> BrandingUploadOut:
        """PNG or JPEG, under 512 KB, at least 128x128; uploaded once per content on the platform."""
        return await self._upload(db_session, runtime, caller, account_id, data.file, "logo")

    @post(
        "/icon",
        operation_id="UploadAccountIcon",
        summary="Upload an icon and set it on the account",
        status_code=HTTP_201_CREATED,
    )
    async def upload_icon(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: MultipartBody[ImageUpload],
    ) -> BrandingUploadOut:
        """A square PNG or JPEG, under 512 KB, at least 128x128 (the portal shows the icon)."""
        return await self._upload(db_session, runtime, caller, account_id, data.file, "icon")

    @get("/effective", operation_id="RetrieveEffectiveBranding", summary="Resolved branding")
    async def effective(
        self, db_session: DbSession, caller: CallerDep, account_id: AccountId
    ) -> EffectiveBranding:
        """Whose branding the portal shows, why, how the session call is made, the values."""
        ensure_account_access(caller, account_id)
        account = await accounts_service.get_account(db_session, account_id)
        resolved = await service.effective_branding(db_session, account_id)
        return EffectiveBranding(
            account_id=account_id, charge_model=account.charge_model, resolution=resolved
        )

    @get("/drift", operation_id="CheckBrandingDrift", summary="Compare with Stripe now")
    async def drift(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
    ) -> DriftReport:
        """Refetches the account from Stripe and records what differs from the last write."""
        ensure_account_access(caller, account_id)
        return await service.check_drift(db_session, runtime, account_id, actor=caller.actor)


class BrandingPreviewController(Controller):
    path = "/accounts/{account_id:str}/branding"
    tags = ["Branding"]

    @get(
        "/preview",
        operation_id="PreviewAccountBranding",
        summary="HTML mock of the customer portal with the effective branding",
    )
    async def preview_page(
        self,
        db_session: DbSession,
        caller: CallerDep,
        account_id: AccountId,
        headline: Annotated[str | None, Parameter(max_length=60)] = None,
    ) -> Template:
        ensure_account_access(caller, account_id)
        context = await preview.preview_context(db_session, account_id, headline=headline)
        return Template(
            template_name="branding/preview.html",
            context=context,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )


def branding_router(max_upload_bytes: int) -> Router:
    """The branding controllers, with a request body limit sized for image uploads."""
    return Router(
        path="/",
        route_handlers=[
            PlatformBrandingController,
            AccountBrandingController,
            BrandingPreviewController,
        ],
        request_max_body_size=max_upload_bytes + MULTIPART_SLACK,
    )
