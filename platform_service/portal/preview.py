"""The preview page: a seller's customer portal as its customers would see it.

Drawn from the same sources as the real portal: the effective branding
(`branding.service.effective_branding_for`, the resolution portal sessions use,
so platform-source accounts show the platform's branding as read from Stripe)
and the features of the account's portal settings *as compiled for Stripe*
(`compile_configuration`), so a button shows here only if the configuration
sent to Stripe enables it. Font and shapes are set in Stripe's Dashboard, not
by the service: the page draws Stripe's defaults and lists them on the
checklist instead of pretending they apply.

Everything reaching the template is either validated (colours are `#RRGGBB`)
or escaped by Jinja's autoescape; CSS values go into `style` attributes, never
into a `<style>` block. Images are inlined as `data:` URIs from the files
table: the page is fetched with a Bearer key, so the browser could not
authenticate separate image requests, and no Stripe URL or key reaches the page.

The console's branding editor frames this page and passes unsaved edits as draft
query parameters. They are checked with the API's own rules (`normalise_patch`,
`check_file_ids`; a bad one is a 422 in the API's error shape), replace the account's
own values before the one resolution runs, and are never stored. Only a page of this
origin may frame the preview.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any, Final

from litestar import Controller, get
from litestar.params import FromPath, Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts_service
from platform_service.applies import PORTAL, checklist_for
from platform_service.auth.guard import account_access
from platform_service.branding.files import check_file_ids, get_file
from platform_service.branding.patches import normalise_patch
from platform_service.branding.rules import (
    contrast_ratio,
)
from platform_service.branding.service import (
    default_values,
    effective_branding_for,
)
from platform_service.deps import DbSession
from platform_service.openapi import AUTHENTICATED, LOOKUP, PARAMS, documented
from platform_service.portal.compile import compile_configuration
from platform_service.portal.document import PortalSettingsPatch, default_headline
from platform_service.portal.effective import as_patch, effective_for, platform_patch
from platform_service.portal.versions import find_row, sync_state

TEMPLATES: Final = Path(__file__).parent / "templates"

# What Stripe's portal shows when an account sets no colours, font or shapes.
DEFAULT_BUTTON: Final = "#635BFF"
DEFAULT_BACKGROUND: Final = "#FFFFFF"
STRIPE_FONT: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
STRIPE_RADIUS: Final = "6px"
_DARK_TEXT: Final = "#1A1F36"
_LIGHT_TEXT: Final = "#FFFFFF"
# The preview is framed by the console's branding editor (same origin) and nowhere else.
# Its own look is an inline stylesheet and `style` attributes; its images are `data:`.
PREVIEW_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",
        ]
    ),
    "Referrer-Policy": "same-origin",
}


async def check_draft(session: AsyncSession, draft: dict[str, str | None]) -> dict[str, Any]:
    """Unsaved values for the preview, checked like a branding PATCH (422 naming the param).

    An empty value unsets the field (the preview shows what the account would inherit).
    """
    patch = {name: (value or None) for name, value in draft.items() if value is not None}
    fields = normalise_patch(patch)
    await check_file_ids(session, fields)
    return fields


def _text_on(color: str) -> str:
    """Dark or light text, whichever reads better on `color`."""
    if contrast_ratio(color, _DARK_TEXT) >= contrast_ratio(color, _LIGHT_TEXT):
        return _DARK_TEXT
    return _LIGHT_TEXT


async def preview_context(
    session: AsyncSession,
    account_id: str,
    *,
    headline: str | None = None,
    draft: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Template context for `portal/preview.html`; `draft` (checked) overrides own values."""
    account = await accounts_service.get_account(session, account_id)
    resolved = await effective_branding_for(session, account, draft=draft)
    values = resolved.branding
    icon_src = None
    if values.icon is not None:
        found = await get_file(session, values.icon)
        if found is not None:
            mime = "image/png" if found.format == "PNG" else "image/jpeg"
            icon_src = f"data:{mime};base64,{base64.b64encode(found.content).decode()}"
    # The name the portal shows is the one of the account whose branding it shows.
    name = values.display_name or account.business_name or account.id

    row = await find_row(session, account.id)
    overrides = as_patch(row.overrides) if row is not None else PortalSettingsPatch()
    settings = effective_for(await platform_patch(session), overrides, None).settings
    compiled = compile_configuration(settings)
    features = {
        feature for feature, config in compiled["features"].items() if config.get("enabled")
    }
    profile = compiled["business_profile"]
    cancel = compiled["features"]["subscription_cancel"]
    update = compiled["features"]["subscription_update"]
    customer_update = compiled["features"]["customer_update"]

    button = values.button_color or DEFAULT_BUTTON
    background = values.background_color or DEFAULT_BACKGROUND
    checklist = await checklist_for(session, account, resolved, await default_values(session))
    return {
        "account_id": account.id,
        "charge_model": account.charge_model,
        "resolved": resolved,
        "name": name,
        "initial": name[:1].upper(),
        "headline": headline or profile.get("headline") or default_headline(name),
        "headline_is_default": not (headline or profile.get("headline")),
        "icon_src": icon_src,
        "icon_id": values.icon,
        "logo_id": values.logo,
        "features": sorted(features),
        "allowed_updates": update.get("default_allowed_updates", []),
        "cancel": cancel,
        "cancel_reasons": (
            cancel["cancellation_reason"]["options"]
            if cancel.get("enabled") and cancel["cancellation_reason"]["enabled"]
            else []
        ),
        "customer_fields": customer_update.get("allowed_updates") or [],
        "terms_url": profile.get("terms_of_service_url"),
        "privacy_url": profile.get("privacy_policy_url"),
        "return_url": compiled.get("default_return_url"),
        "retention": settings.cancellations.retention_coupon
        and settings.cancellations.retention_coupon_id,
        "retention_note": PORTAL["cancellations.retention_coupon"].note,
        "sync": sync_state(row),
        "checklist": checklist,
        "style": {
            "panel": f"background-color: {background}; color: {_text_on(background)};",
            "button": (
                f"background-color: {button}; color: {_text_on(button)}; "
                f"border-radius: {STRIPE_RADIUS};"
            ),
            "link": f"color: {button};",
            "card": f"border-radius: {STRIPE_RADIUS};",
            "font": f"font-family: {STRIPE_FONT};",
        },
        "button_color": values.button_color,
        "background_color": values.background_color,
        "warnings": resolved.warnings,
        "inherited": resolved.inherited,
    }


class PortalPreviewController(Controller):
    # The URL predates the move under portal/ and is kept (auth.guard.COOKIE_PATHS names it).
    path = "/accounts/{account_id:str}/branding"
    tags = ["Branding"]
    guards = [account_access]

    @get(
        "/preview",
        operation_id="PreviewAccountBranding",
        summary="HTML mock of the customer portal with the effective branding",
        description="A page for people, not programs: the account's customer portal drawn "
        "with the branding and the portal features its real sessions get, the stored (or "
        "given) headline, and the checklist of what only Stripe's Dashboard sets. Browsers "
        "signed in to the console send the key as a cookie instead of the header.",
        **documented(AUTHENTICATED, LOOKUP, PARAMS),
    )
    async def preview_page(
        self,
        db_session: DbSession,
        account_id: FromPath[str],
        headline: Annotated[str | None, Parameter(max_length=60)] = None,
        display_name: Annotated[str | None, Parameter(max_length=200)] = None,
        button_color: Annotated[str | None, Parameter(max_length=20)] = None,
        background_color: Annotated[str | None, Parameter(max_length=20)] = None,
        icon: Annotated[str | None, Parameter(max_length=255)] = None,
    ) -> Template:
        draft = await check_draft(
            db_session,
            {
                "display_name": display_name,
                "button_color": button_color,
                "background_color": background_color,
                "icon": icon,
            },
        )
        context = await preview_context(db_session, account_id, headline=headline, draft=draft)
        return Template(
            template_name="portal/preview.html", context=context, headers=dict(PREVIEW_HEADERS)
        )
