"""The preview page: a seller's customer portal as its customers would see it.

Drawn with the effective branding (`branding.service.effective_branding_for`,
the same resolution portal sessions use) and the portal's default headline.

Everything reaching the template is either validated (colours are `#RRGGBB`,
the font family is restricted by `rules`) or escaped by Jinja's autoescape;
CSS values go into `style` attributes (where HTML escaping still applies),
never into a `<style>` block, where it would not. Images are inlined as
`data:` URIs from the files table: the page is fetched with a Bearer key, so
the browser could not authenticate separate image requests, and no Stripe
URL or key reaches the page.
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
from platform_service.auth.guard import account_access
from platform_service.branding.files import get_file
from platform_service.branding.rules import contrast_ratio
from platform_service.branding.service import effective_branding_for
from platform_service.deps import DbSession
from platform_service.openapi import AUTHENTICATED, LOOKUP, PARAMS, documented
from platform_service.portal.document import default_headline

TEMPLATES: Final = Path(__file__).parent / "templates"

# What Stripe's portal falls back to when an account sets no colours.
DEFAULT_BUTTON: Final = "#635BFF"
DEFAULT_BACKGROUND: Final = "#FFFFFF"
DEFAULT_FONT: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_DARK_TEXT: Final = "#1A1F36"
_LIGHT_TEXT: Final = "#FFFFFF"
_RADIUS: Final[dict[str, str]] = {"rounded": "6px", "rectangular": "0", "pill": "999px"}


def _text_on(color: str) -> str:
    """Dark or light text, whichever reads better on `color`."""
    if contrast_ratio(color, _DARK_TEXT) >= contrast_ratio(color, _LIGHT_TEXT):
        return _DARK_TEXT
    return _LIGHT_TEXT


async def preview_context(
    session: AsyncSession, account_id: str, *, headline: str | None = None
) -> dict[str, Any]:
    """Template context for `portal/preview.html`."""
    account = await accounts_service.get_account(session, account_id)
    resolved = await effective_branding_for(session, account)
    values = resolved.branding
    icon_src = None
    if values.icon is not None:
        found = await get_file(session, values.icon)
        if found is not None:
            mime = "image/png" if found.format == "PNG" else "image/jpeg"
            icon_src = f"data:{mime};base64,{base64.b64encode(found.content).decode()}"
    name = values.display_name or account.business_name or account.id
    button = values.button_color or DEFAULT_BUTTON
    background = values.background_color or DEFAULT_BACKGROUND
    font = values.font_family or DEFAULT_FONT
    radius = _RADIUS.get(values.border_style or "rounded", "6px")
    return {
        "account_id": account.id,
        "charge_model": account.charge_model,
        "resolved": resolved,
        "name": name,
        "initial": name[:1].upper(),
        "headline": headline or default_headline(name),
        "icon_src": icon_src,
        "icon_id": values.icon,
        "logo_id": values.logo,
        "style": {
            "panel": f"background-color: {background}; color: {_text_on(background)};",
            "button": (
                f"background-color: {button}; color: {_text_on(button)}; border-radius: {radius};"
            ),
            "link": f"color: {button};",
            "card": f"border-radius: {radius};",
            "font": f"font-family: {font};",
        },
        "button_color": button,
        "background_color": background,
        "font_family": font,
        "border_style": values.border_style or "rounded",
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
        "with its effective branding and the given (or default) headline. Browsers signed in "
        "to the console send the key as a cookie instead of the header.",
        **documented(AUTHENTICATED, LOOKUP, PARAMS),
    )
    async def preview_page(
        self,
        db_session: DbSession,
        account_id: FromPath[str],
        headline: Annotated[str | None, Parameter(max_length=60)] = None,
    ) -> Template:
        context = await preview_context(db_session, account_id, headline=headline)
        return Template(
            template_name="portal/preview.html",
            context=context,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )
