"""Console branding editors: one account's branding (with the live preview) and the
platform defaults (with the platform's own branding as read from Stripe).

Every write goes through the branding services the JSON API uses: a save is the
API's PATCH (`patch_account_branding`, which writes Stripe) or PUT of the platform
defaults, an upload is `store_branding_file` then the same patch, "Read again from
Stripe" is `platform.refresh`. A refused value is shown beside its field, named by
the error's `param`; the request then answers 422, which commits nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from babel.numbers import format_decimal
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts
from platform_service.applies import BRANDING, Effect, branding_effects, checklist_for
from platform_service.auth.guard import ensure_seller_may_edit
from platform_service.auth.keys import Caller
from platform_service.branding import files, platform, service
from platform_service.branding.images import ImagePurpose
from platform_service.branding.rules import (
    BORDER_STYLES,
    BRANDING_FIELDS,
    FONT_FAMILIES,
    MIN_BUTTON_CONTRAST,
    contrast_ratio,
    font_label,
)
from platform_service.deps import DbSession, GatewayDep, SettingsDep
from platform_service.errors import NotFound, ServiceError
from platform_service.inputs import check_text
from platform_service.portal.preview import DEFAULT_BACKGROUND, DEFAULT_BUTTON
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway
from platform_service.web.common import account_caller, act, admin_caller
from platform_service.web.i18n import N_, current_language, gettext
from platform_service.web.render import page

# What the form edits; logo and icon are uploads, each in its own form.
FORM_FIELDS: Final = (
    "display_name",
    "button_color",
    "background_color",
    "font_family",
    "border_style",
)
IMAGES: Final[tuple[ImagePurpose, ...]] = ("logo", "icon")
NOTICES: Final = ("saved", "uploaded", "cleared", "read")

FIELD_LABELS: Final = {
    "display_name": N_("Display name"),
    "logo": N_("Logo"),
    "icon": N_("Icon"),
    "button_color": N_("Button colour"),
    "background_color": N_("Background colour"),
    "font_family": N_("Font"),
    "border_style": N_("Shapes"),
}
SHAPE_LABELS: Final = {
    "rounded": N_("Rounded"),
    "rectangular": N_("Rectangular"),
    "pill": N_("Pill"),
}
# What a refused value needs, said so the person can act on it; the service's own
# (English) message is shown beside it as the detail.
FIELD_HINTS: Final = {
    "display_name": N_("Enter the public business name, at most 200 characters."),
    "button_color": N_("Enter a colour as # and six hex digits, like #0A2540."),
    "background_color": N_("Enter a colour as # and six hex digits, like #0A2540."),
    "font_family": N_("Choose one of Stripe's fonts."),
    "border_style": N_("Choose rounded, rectangular or pill."),
    "file": N_("Upload a PNG or JPEG under 512 KB, at least 128x128 pixels (the icon square)."),
}
CODE_HINTS: Final = {
    "branding_field_not_clearable": N_(
        "Stripe holds a value for this field and cannot clear it: set another value, or set "
        "a platform default for it to fall back to."
    ),
    "image_too_large": N_("The image is too large: Stripe takes branding images under 512 KB."),
    "image_too_small": N_("The image is too small: Stripe needs at least 128x128 pixels."),
    "image_not_square": N_("The icon must be square."),
    "image_not_an_image": N_("This file is not a PNG or JPEG image."),
    "image_unsupported_format": N_("Only PNG and JPEG images are accepted."),
}
# The notes of `applies.BRANDING`, marked here so they are shown in the page's language.
EFFECT_NOTES: Final = (
    N_(
        "The portal takes it only from Stripe's Dashboard (Settings > Branding); the "
        "service keeps it for the checklist and for Checkout."
    ),
    N_("Checkout shows the logo; the portal shows the icon."),
    N_(
        "Written to the account on Stripe (Checkout and other surfaces use it), but this "
        "account's portal shows the platform's branding."
    ),
)


def _form_values(data: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: value.strip() if isinstance(value := data.get(name), str) else ""
        for name in FORM_FIELDS
    }


def _patch(values: Mapping[str, str]) -> dict[str, Any]:
    """The form as a PATCH: an empty field is unset (it inherits the platform's)."""
    return {name: values[name] or None for name in FORM_FIELDS}


def _field_problem(exc: ServiceError) -> tuple[str, dict[str, str]]:
    """The field a refusal names, and what to show beside it."""
    param = exc.param if exc.param in (*BRANDING_FIELDS, "file") else "form"
    hint = CODE_HINTS.get(exc.code or "") or FIELD_HINTS.get(param or "")
    return str(param), {
        "message": gettext(hint) if hint else gettext("This value was refused."),
        "detail": exc.message,
    }


def _contrast(button: str | None, background: str | None) -> dict[str, Any]:
    """The contrast the form's colours give (Stripe's defaults where none is set)."""
    ratio = contrast_ratio(button or DEFAULT_BUTTON, background or DEFAULT_BACKGROUND)
    return {
        "low": ratio < MIN_BUTTON_CONTRAST,
        "ratio": format_decimal(round(ratio, 2), "0.00", locale=current_language()),
        "minimum": MIN_BUTTON_CONTRAST,
    }


def _note(note: str | None) -> dict[str, str] | None:
    """An applies note in the page's language, or in English (marked so) if it has none."""
    if note is None:
        return None
    shown = gettext(note)
    return {"text": shown, "lang": "en" if shown == note and current_language() != "en" else ""}


def _effects(effects: Mapping[str, Effect]) -> dict[str, dict[str, Any]]:
    return {
        name: {"stripe_field": effect.stripe_field, "note": _note(effect.note)}
        for name, effect in effects.items()
    }


def _common_context() -> dict[str, Any]:
    return {
        "FIELD_LABELS": FIELD_LABELS,
        "fonts": [(font, font_label(font)) for font in FONT_FAMILIES if font != "default"],
        "shapes": [(shape, SHAPE_LABELS[shape]) for shape in BORDER_STYLES],
        "dashboard_note": _note(BRANDING["font_family"].note),
        "DEFAULT_BUTTON": DEFAULT_BUTTON,
        "DEFAULT_BACKGROUND": DEFAULT_BACKGROUND,
    }


async def _read_upload(request: Request[Any, Any, Any]) -> UploadFile | None:
    found = (await request.form()).get("file")
    return found if isinstance(found, UploadFile) else None


def _may_edit(caller: Caller, settings: Settings) -> bool:
    return caller.is_admin or settings.sellers_edit_branding


async def _store_upload(
    session: AsyncSession,
    gateway: StripeGateway,
    settings: Settings,
    upload: UploadFile | None,
    purpose: ImagePurpose,
) -> str:
    """The API's upload checks, then the platform-side file: its Stripe File id."""
    if upload is None:
        raise ServiceError("Choose a file to upload.", code="file_missing", param="file")
    check_text(upload.filename or "", "file")
    stored = await files.store_branding_file(
        session,
        gateway,
        max_upload_bytes=settings.max_upload_bytes,
        purpose=purpose,
        data=await upload.read(),
        filename=upload.filename,
    )
    return stored.id


class BrandingPagesController(Controller):
    path = "/ui"
    include_in_schema = False

    # -- one account ------------------------------------------------------------------

    async def _account_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        settings: Settings,
        caller: Caller,
        account_id: str,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, dict[str, str]] | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        row = await accounts.get_account(session, account_id)
        own = service.own_fields(await service.get_account_branding(session, account_id))
        resolved = await service.effective_branding_for(session, row)
        defaults = await service.default_values(session)
        shown = values or {name: own[name] or "" for name in FORM_FIELDS}
        return page(
            request,
            "web/branding.html",
            {
                **_common_context(),
                "account": accounts.account_out(row),
                "own": own,
                "values": shown,
                "defaults": defaults,
                "resolved": resolved,
                "inheriting": True,
                "effects": _effects(branding_effects(resolved)),
                "checklist": await checklist_for(session, row, resolved, defaults),
                "editable": _may_edit(caller, settings),
                "errors": errors or {},
                "notice": notice if notice in NOTICES else None,
                "contrast": _contrast(
                    own["button_color"] or defaults.button_color,
                    own["background_color"] or defaults.background_color,
                ),
                "preview_url": f"/accounts/{account_id}/branding/preview",
            },
            status_code=status_code,
        )

    @get("/accounts/{account_id:str}/branding")
    async def account_branding(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        settings: SettingsDep,
        account_id: FromPath[str],
        notice: FromQuery[str | None] = None,
    ) -> Response[str]:
        caller = account_caller(request, account_id)
        return await self._account_page(
            request, db_session, settings, caller, account_id, notice=notice
        )

    @post("/accounts/{account_id:str}/branding", status_code=303)
    async def save_account_branding(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
    ) -> Response[Any]:
        """The API's PATCH with the form's fields (or one field cleared back to inherited)."""
        caller = account_caller(request, account_id)
        ensure_seller_may_edit(caller, settings, "branding")
        form = await request.form()
        clear = form.get("clear")
        values: dict[str, str] | None = None
        if isinstance(clear, str) and clear in BRANDING_FIELDS:
            patch: dict[str, Any] = {clear: None}
            notice = "cleared"
        else:
            values = _form_values(form)
            patch = _patch(values)
            notice = "saved"
        try:
            async with db_session.begin_nested():
                await service.patch_account_branding(
                    db_session, gateway, account_id, patch, actor=caller.actor
                )
        except ServiceError as exc:
            field, problem = _field_problem(exc)
            return await self._account_page(
                request,
                db_session,
                settings,
                caller,
                account_id,
                values=values,
                errors={field: problem},
                status_code=exc.status_code,
            )
        return Redirect(f"/ui/accounts/{account_id}/branding?notice={notice}", status_code=303)

    @post("/accounts/{account_id:str}/branding/upload/{purpose:str}", status_code=303)
    async def upload_account_image(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
        purpose: FromPath[str],
    ) -> Response[Any]:
        """The API's logo or icon upload: checked, stored on the platform, set on the account."""
        caller = account_caller(request, account_id)
        image = _purpose(purpose)
        ensure_seller_may_edit(caller, settings, "branding")
        await accounts.get_account(db_session, account_id)
        upload = await _read_upload(request)
        try:
            async with db_session.begin_nested():
                file_id = await _store_upload(db_session, gateway, settings, upload, image)
                await service.patch_account_branding(
                    db_session, gateway, account_id, {image: file_id}, actor=caller.actor
                )
        except ServiceError as exc:
            _, problem = _field_problem(exc)
            return await self._account_page(
                request,
                db_session,
                settings,
                caller,
                account_id,
                errors={image: problem},
                status_code=exc.status_code,
            )
        return Redirect(f"/ui/accounts/{account_id}/branding?notice=uploaded", status_code=303)

    # -- the platform -----------------------------------------------------------------

    async def _platform_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, dict[str, str]] | None = None,
        notice: str | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        row = await service.get_platform_row(session)
        out = service.platform_out(row, await platform.read(session))
        own = service.own_fields(row)
        shown = values or {name: own[name] or "" for name in FORM_FIELDS}
        return page(
            request,
            "web/platform_branding.html",
            {
                **_common_context(),
                "own": own,
                "values": shown,
                "version": out.version,
                "updated_at": out.updated_at,
                "stripe": out.stripe,
                "inheriting": False,
                "effects": _effects(BRANDING),
                "errors": errors or {},
                "notice": notice if notice in NOTICES else None,
                "error": error,
                "contrast": _contrast(own["button_color"], own["background_color"]),
            },
            status_code=status_code,
        )

    @get("/platform/branding")
    async def platform_branding(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        notice: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[str]:
        admin_caller(request)
        return await self._platform_page(
            request, db_session, notice=notice, error=(error or "")[:80] or None
        )

    async def _put_platform(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Caller,
        values: Mapping[str, Any],
        *,
        form_values: dict[str, str] | None,
        field: str | None,
        notice: str,
        file_step: tuple[ImagePurpose, Callable[[], Awaitable[str]]] | None = None,
    ) -> Response[Any]:
        try:
            async with session.begin_nested():
                wanted = dict(values)
                if file_step is not None:
                    wanted[file_step[0]] = await file_step[1]()
                await service.put_platform_branding(session, wanted, actor=caller.actor)
        except ServiceError as exc:
            param, problem = _field_problem(exc)
            return await self._platform_page(
                request,
                session,
                values=form_values,
                errors={field or param: problem},
                status_code=exc.status_code,
            )
        return Redirect(f"/ui/platform/branding?notice={notice}", status_code=303)

    @post("/platform/branding", status_code=303)
    async def save_platform_branding(
        self, request: Request[Any, Any, Any], db_session: DbSession
    ) -> Response[Any]:
        """The API's PUT of the defaults: the form's fields, with the stored logo and icon."""
        caller = admin_caller(request)
        own = service.own_fields(await service.get_platform_row(db_session))
        form = await request.form()
        clear = form.get("clear")
        if isinstance(clear, str) and clear in BRANDING_FIELDS:
            return await self._put_platform(
                request,
                db_session,
                caller,
                {**own, clear: None},
                form_values=None,
                field=clear,
                notice="cleared",
            )
        values = _form_values(form)
        return await self._put_platform(
            request,
            db_session,
            caller,
            {**own, **_patch(values)},
            form_values=values,
            field=None,
            notice="saved",
        )

    @post("/platform/branding/upload/{purpose:str}", status_code=303)
    async def upload_platform_image(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        purpose: FromPath[str],
    ) -> Response[Any]:
        """A default logo or icon: the API's upload checks, then stored in the defaults."""
        caller = admin_caller(request)
        image = _purpose(purpose)
        own = service.own_fields(await service.get_platform_row(db_session))
        upload = await _read_upload(request)

        async def stored() -> str:
            return await _store_upload(db_session, gateway, settings, upload, image)

        return await self._put_platform(
            request,
            db_session,
            caller,
            own,
            form_values=None,
            field=image,
            notice="uploaded",
            file_step=(image, stored),
        )

    @post("/platform/branding/refresh", status_code=303)
    async def refresh_platform_branding(
        self, request: Request[Any, Any, Any], db_session: DbSession, gateway: GatewayDep
    ) -> Redirect:
        """Read the platform's own branding from Stripe now (`POST /v1/platform/branding/refresh`)."""
        caller = admin_caller(request)
        return await act(
            db_session,
            lambda: platform.refresh(db_session, gateway, actor=caller.actor),
            back="/ui/platform/branding",
            notice="read",
        )


def _purpose(value: str) -> ImagePurpose:
    if value == "logo":
        return "logo"
    if value == "icon":
        return "icon"
    raise NotFound(f"No such page: '{value[:40]}'")
