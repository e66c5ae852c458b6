"""Branding endpoints: platform defaults, account branding, uploads, effective, drift.

The preview page of a seller's portal is served by `portal.preview`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec
from litestar import Controller, Router, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts_service
from platform_service.applies import branding_effects, checklist_for
from platform_service.auth.guard import account_access, admin_only, ensure_seller_may_edit
from platform_service.auth.keys import Caller
from platform_service.branding import files, platform, service
from platform_service.branding.drift import check_drift
from platform_service.branding.images import ImagePurpose
from platform_service.branding.schemas import (
    AccountBrandingOut,
    BrandingPatch,
    BrandingPut,
    BrandingUploadOut,
    DriftReport,
    EffectiveBranding,
    PlatformBrandingOut,
)
from platform_service.deps import CallerDep, DbSession, GatewayDep, SettingsDep
from platform_service.inputs import check_text
from platform_service.openapi import (
    ADMIN,
    AUTHENTICATED,
    BODY,
    LOOKUP,
    SELLER_EDIT,
    STRIPE,
    UPLOAD,
    WRITE,
    documented,
)
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway

# Room for the multipart envelope (boundaries, part headers) around the image.
MULTIPART_SLACK: Final = 16 * 1024

AccountId = FromPath[str]


@dataclass
class ImageUpload:
    """`multipart/form-data` with one part, `file`: a PNG or JPEG."""

    file: UploadFile


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

    @get(
        operation_id="RetrievePlatformBranding",
        summary="The platform's default branding",
        description="`branding`: the service's platform defaults, which an account without "
        "its own value inherits field by field when the service writes its branding. "
        "`stripe`: the platform's own branding as last read from Stripe, which is what "
        "portals of destination and separate-charges accounts show.",
        **documented(ADMIN),
    )
    async def get_platform(self, db_session: DbSession) -> PlatformBrandingOut:
        return service.platform_out(
            await service.get_platform_row(db_session), await platform.read(db_session)
        )

    @post(
        "/refresh",
        operation_id="RefreshPlatformBranding",
        summary="Read the platform's own branding from Stripe now",
        description="Stripe holds the platform's name, colours and icon (set in its "
        "Dashboard); portals of destination and separate-charges accounts show them. The "
        "service also re-reads them on `account.updated` for the platform and hourly.",
        status_code=200,
        **documented(ADMIN, STRIPE, WRITE),
    )
    async def refresh_platform(
        self, db_session: DbSession, gateway: GatewayDep, caller: CallerDep
    ) -> PlatformBrandingOut:
        stripe_row = await platform.refresh(db_session, gateway, actor=caller.actor)
        return service.platform_out(await service.get_platform_row(db_session), stripe_row)

    @put(
        operation_id="ReplacePlatformBranding",
        summary="Replace the platform's defaults",
        **documented(ADMIN, BODY, WRITE),
    )
    async def put_platform(
        self, db_session: DbSession, caller: CallerDep, data: JSONBody[BrandingPut]
    ) -> PlatformBrandingOut:
        """Stored only; accounts that inherit a default get it on their next write."""
        row = await service.put_platform_branding(db_session, _fields(data), actor=caller.actor)
        return service.platform_out(row, await platform.read(db_session))


class AccountBrandingController(Controller):
    path = "/v1/accounts/{account_id:str}/branding"
    tags = ["Branding"]
    guards = [account_access]

    @get(
        operation_id="RetrieveAccountBranding",
        summary="An account's own branding",
        **documented(AUTHENTICATED, LOOKUP),
    )
    async def get_branding(
        self, db_session: DbSession, account_id: AccountId
    ) -> AccountBrandingOut:
        """With the last write to Stripe and any drift seen since."""
        row = await service.get_account_branding(db_session, account_id)
        return service.account_branding_out(account_id, row)

    @put(
        operation_id="ReplaceAccountBranding",
        summary="Replace an account's branding",
        **documented(SELLER_EDIT, BODY, LOOKUP, STRIPE, WRITE),
    )
    async def put_branding(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[BrandingPut],
    ) -> AccountBrandingOut:
        """Fields left out are unset (they inherit the platform's); written to Stripe at once."""
        ensure_seller_may_edit(caller, settings, "branding")
        row = await service.put_account_branding(
            db_session, gateway, account_id, _fields(data), actor=caller.actor
        )
        return service.account_branding_out(account_id, row)

    @patch(
        operation_id="UpdateAccountBranding",
        summary="Change some branding fields",
        **documented(SELLER_EDIT, BODY, LOOKUP, STRIPE, WRITE),
    )
    async def patch_branding(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[BrandingPatch],
    ) -> AccountBrandingOut:
        """Only the fields sent change; null unsets one. Written to Stripe at once."""
        ensure_seller_may_edit(caller, settings, "branding")
        row = await service.patch_account_branding(
            db_session, gateway, account_id, _fields(data), actor=caller.actor
        )
        return service.account_branding_out(account_id, row)

    async def _upload(
        self,
        db_session: AsyncSession,
        gateway: StripeGateway,
        settings: Settings,
        caller: Caller,
        account_id: str,
        upload: UploadFile,
        purpose: ImagePurpose,
    ) -> BrandingUploadOut:
        ensure_seller_may_edit(caller, settings, "branding")
        await accounts_service.get_account(db_session, account_id)
        # The filename is stored and shown: the same text rule as every other input.
        check_text(upload.filename or "", "file")
        content = await upload.read()
        stored = await files.store_branding_file(
            db_session,
            gateway,
            max_upload_bytes=settings.max_upload_bytes,
            purpose=purpose,
            data=content,
            filename=upload.filename,
        )
        row = await service.patch_account_branding(
            db_session, gateway, account_id, {purpose: stored.id}, actor=caller.actor
        )
        return BrandingUploadOut(
            file=files.file_out(stored),
            branding=service.account_branding_out(account_id, row),
        )

    @post(
        "/logo",
        operation_id="UploadAccountLogo",
        summary="Upload a logo and set it on the account",
        status_code=HTTP_201_CREATED,
        **documented(SELLER_EDIT, BODY, LOOKUP, UPLOAD, STRIPE, WRITE),
    )
    async def upload_logo(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        data: MultipartBody[ImageUpload],
    ) -> BrandingUploadOut:
        """PNG or JPEG, under 512 KB, at least 128x128; uploaded once per content on the platform."""
        return await self._upload(
            db_session, gateway, settings, caller, account_id, data.file, "logo"
        )

    @post(
        "/icon",
        operation_id="UploadAccountIcon",
        summary="Upload an icon and set it on the account",
        status_code=HTTP_201_CREATED,
        **documented(SELLER_EDIT, BODY, LOOKUP, UPLOAD, STRIPE, WRITE),
    )
    async def upload_icon(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        data: MultipartBody[ImageUpload],
    ) -> BrandingUploadOut:
        """A square PNG or JPEG, under 512 KB, at least 128x128 (the portal shows the icon)."""
        return await self._upload(
            db_session, gateway, settings, caller, account_id, data.file, "icon"
        )

    @get(
        "/effective",
        operation_id="RetrieveEffectiveBranding",
        summary="Resolved branding",
        **documented(AUTHENTICATED, LOOKUP),
    )
    async def effective(self, db_session: DbSession, account_id: AccountId) -> EffectiveBranding:
        """Whose branding the portal shows, why, how the session call is made, the values."""
        account = await accounts_service.get_account(db_session, account_id)
        resolved = await service.effective_branding_for(db_session, account)
        defaults = await service.default_values(db_session)
        return EffectiveBranding(
            account_id=account_id,
            charge_model=account.charge_model,
            resolution=resolved,
            applies=branding_effects(resolved),
            dashboard_checklist=await checklist_for(db_session, account, resolved, defaults),
        )

    @get(
        "/drift",
        operation_id="CheckBrandingDrift",
        summary="Compare with Stripe now",
        **documented(AUTHENTICATED, LOOKUP, STRIPE, WRITE),
    )
    async def drift(
        self, db_session: DbSession, gateway: GatewayDep, caller: CallerDep, account_id: AccountId
    ) -> DriftReport:
        """Refetches the account from Stripe and records what differs from the last write."""
        return await check_drift(db_session, gateway, account_id, actor=caller.actor)


def branding_router(max_upload_bytes: int) -> Router:
    """The branding controllers, with a request body limit sized for image uploads."""
    return Router(
        path="/",
        route_handlers=[PlatformBrandingController, AccountBrandingController],
        request_max_body_size=max_upload_bytes + MULTIPART_SLACK,
    )
