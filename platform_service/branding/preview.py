"""The preview page's context: the customer portal's look with the effective branding.

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
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts_service
from platform_service.branding import service
from platform_service.branding.rules import contrast_ratio
from platform_service.portal.document import default_headline

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
    """Template context for `branding/preview.html`."""
    account = await accounts_service.get_account(session, account_id)
    resolved = await service.effective_branding(session, account_id)
    values = resolved.branding
    icon_src = None
    if values.icon is not None:
        found = await service.get_file(session, values.icon)
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
