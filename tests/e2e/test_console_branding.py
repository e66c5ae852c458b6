"""The console's branding editors in Debian's chromium, in English and in French: colours
with the live preview following unsaved edits, an icon upload, a refused hex beside its
field, the platform page with the platform's branding read from Stripe, and a seller kept
to their own branding. Results are checked through the JSON API; every page visited goes
through axe-core, both screenshot widths and (in French) the untranslated-string check.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import stripe
from playwright.async_api import Page

from tests.e2e import test_console_journeys as journeys
from tests.e2e.console_pages import Walk
from tests.e2e.test_console_journeys import Console, sign_in, wait_for
from tests.integration.test_branding import image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# The journeys' service, browser and per-language walk.
console = journeys.console
browser = journeys.browser
walk = journeys.walk

SIDE = "[data-testid=portal-side]"
PAYMENT_LINK = "[data-feature=payment_method_update] a"


def rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def in_preview(page: Page, selector: str, script: str) -> Any:
    """`script` on an element of the preview frame (None while the frame reloads)."""
    try:
        return (
            await page.frame_locator("#preview-frame")
            .locator(selector)
            .evaluate(script, timeout=2000)
        )
    except Exception:  # the frame navigated away under the locator: ask again
        return None


async def preview_shows(page: Page, selector: str, prop: str, expected: str) -> None:
    async def matches() -> bool:
        found = await in_preview(page, selector, f"el => getComputedStyle(el).{prop}")
        return bool(found == expected)

    await wait_for(matches, f"preview {selector} {prop} == {expected}", timeout=20)


async def open_editor(walk: Walk, console: Console, account_id: str) -> Page:
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/accounts/{account_id}")
    await page.get_by_test_id("edit-branding").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{account_id}/branding")
    return page


async def api_branding(console: Console, account_id: str) -> dict[str, Any]:
    resp = await console.api.get(f"/v1/accounts/{account_id}/branding")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def button_label(walk: Walk) -> str:
    return walk.t("Button colour", "Couleur des boutons")


def background_label(walk: Walk) -> str:
    return walk.t("Background colour", "Couleur d'arrière-plan")


async def test_edit_colours_and_the_preview_follows_before_saving(
    console: Console, walk: Walk
) -> None:
    account_id = await console.new_account(f"Boulangerie {walk.language}")
    page = await open_editor(walk, console, account_id)
    await walk.check(page, "branding")
    assert await page.get_by_test_id("preview-frame").get_attribute("title")
    picker = page.locator("#button_color-picker")
    assert await picker.is_visible()  # shown by the script, kept in step with the hex field

    await page.get_by_label(button_label(walk), exact=True).fill("#0a7a3b")
    assert await picker.input_value() == "#0a7a3b"
    await preview_shows(page, PAYMENT_LINK, "color", rgb("#0A7A3B"))
    await page.get_by_label(background_label(walk), exact=True).fill("#F0FFF4")
    await preview_shows(page, SIDE, "backgroundColor", rgb("#F0FFF4"))
    src = await page.get_by_test_id("preview-frame").get_attribute("src") or ""
    assert "BUTTON_COLOR=%230A7A3B" in src.upper()
    # Nothing is stored yet: the preview showed a draft.
    assert "button_color" not in (await api_branding(console, account_id))["branding"]

    # Close colours: the contrast warning appears as you type, and goes again.
    warning = page.get_by_test_id("contrast-warning")
    assert not await warning.is_visible()
    await page.get_by_label(background_label(walk), exact=True).fill("#0B7B3C")
    assert await warning.is_visible()
    await walk.check(page, "branding-low-contrast")
    await page.get_by_label(background_label(walk), exact=True).fill("#F0FFF4")
    assert not await warning.is_visible()

    await page.get_by_label(walk.t("Font", "Police"), exact=True).select_option("lora")
    await page.get_by_label(walk.t("Pill", "Pilule"), exact=True).check()
    assert await page.get_by_test_id("dashboard-only-font_family").is_visible()
    await page.get_by_test_id("save-branding").click()
    await page.wait_for_url("**/branding?notice=saved")
    await walk.check(page, "branding-saved")
    saved = (await api_branding(console, account_id))["branding"]
    assert saved == {
        "button_color": "#0A7A3B",
        "background_color": "#F0FFF4",
        "font_family": "lora",
        "border_style": "pill",
    }
    assert await page.get_by_test_id("marker-button_color").get_attribute("data-state") == "own"
    await preview_shows(page, SIDE, "backgroundColor", rgb("#F0FFF4"))
    # The account's effective branding and its Dashboard checklist are on the page.
    source = page.get_by_test_id("effective-source")
    assert await source.get_attribute("data-source") == "connected_account"
    assert await page.locator("[data-testid=checklist] li[data-setting=font_family]").count() == 1

    # The font goes back to inherited with its Clear button.
    await page.get_by_test_id("clear-font_family").click()
    await page.wait_for_url("**/branding?notice=cleared")
    assert "font_family" not in (await api_branding(console, account_id))["branding"]
    assert await page.get_by_test_id("marker-font_family").get_attribute("data-state") != "own"
    await page.context.close()


async def test_upload_an_icon_and_see_it_in_the_preview(console: Console, walk: Walk) -> None:
    account_id = await console.new_account(f"Fromagerie {walk.language}")
    page = await open_editor(walk, console, account_id)
    assert await page.frame_locator("#preview-frame").get_by_test_id("portal-icon").count() == 0

    # A wide image is refused as an icon beside the field, by the API's own checks.
    await page.set_input_files(
        "#icon-file",
        files=[{"name": "wide.png", "mimeType": "image/png", "buffer": image(300, 150)}],
    )
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("upload-icon").click()
    assert (await answered.value).status == 422
    assert await page.get_by_test_id("error-icon").is_visible()
    await walk.check(page, "branding-icon-refused")

    await page.set_input_files(
        "#icon-file",
        files=[{"name": "icon.png", "mimeType": "image/png", "buffer": image(160, 160)}],
    )
    await page.get_by_test_id("upload-icon").click()
    await page.wait_for_url("**/branding?notice=uploaded")
    icon = (await api_branding(console, account_id))["branding"]["icon"]
    assert icon.startswith("file_")
    assert await page.get_by_test_id("current-icon").inner_text() == icon

    async def icon_shown() -> bool:
        found = await in_preview(page, "[data-testid=portal-preview]", "el => el.dataset.icon")
        return bool(found == icon)

    await wait_for(icon_shown, "the icon in the preview")
    img = page.frame_locator("#preview-frame").get_by_test_id("portal-icon")
    assert (await img.get_attribute("src") or "").startswith("data:image/png;base64,")
    await walk.check(page, "branding-icon")
    await page.context.close()


async def test_a_bad_hex_is_shown_beside_its_field_and_nothing_is_saved(
    console: Console, walk: Walk
) -> None:
    account_id = await console.new_account(f"Librairie {walk.language}")
    saved = await console.api.patch(
        f"/v1/accounts/{account_id}/branding", json={"button_color": "#112233"}
    )
    assert saved.status_code == 200, saved.text
    before = await api_branding(console, account_id)
    page = await open_editor(walk, console, account_id)

    await page.get_by_label(button_label(walk), exact=True).fill("#12345G")
    await page.get_by_label(background_label(walk), exact=True).fill("#FFFFFF")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("save-branding").click()
    assert (await answered.value).status == 422
    assert await page.get_by_test_id("error-button_color").is_visible()
    field = page.get_by_label(button_label(walk), exact=True)
    assert await field.get_attribute("aria-invalid") == "true"
    assert await field.input_value() == "#12345G"  # what was typed stays, to be fixed
    await walk.check(page, "branding-invalid")
    after = await api_branding(console, account_id)
    assert (after["branding"], after["version"]) == (before["branding"], before["version"])
    await page.context.close()


async def test_the_platform_page_shows_stripes_branding_and_reads_it_again(
    console: Console, walk: Walk, sandbox_client: stripe.StripeClient
) -> None:
    name = f"Northwind {walk.language}"
    sandbox_client.v1.accounts.update(
        console.sandbox.platform_account_id,
        {
            "business_profile": {"name": name},
            "settings": {"branding": {"primary_color": "#1B2A4A", "secondary_color": "#F2F4F8"}},
        },
    )
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.get_by_role(
        "link", name=walk.t("Platform branding", "Image de marque de la plateforme")
    ).click()
    await page.wait_for_url(f"{console.url}/ui/platform/branding")
    await walk.check(page, "platform-branding")

    await page.get_by_test_id("refresh-platform").click()
    await page.wait_for_url("**/ui/platform/branding?notice=read")
    assert await page.get_by_test_id("stripe-display_name").inner_text() == name
    assert await page.get_by_test_id("stripe-button_color").inner_text() == "#1B2A4A"
    assert await page.get_by_test_id("stripe-fetched-at").inner_text() != walk.t("never", "jamais")
    api = (await console.api.get("/v1/platform/branding")).json()
    assert api["stripe"]["branding"]["display_name"] == name
    await walk.check(page, "platform-branding-read")

    # The defaults accounts inherit: saved through the API's PUT.
    default_name = f"Marketplace {walk.language}"
    await page.get_by_label(walk.t("Display name", "Nom affiché"), exact=True).fill(default_name)
    await page.get_by_label(button_label(walk), exact=True).fill("#0F766E")
    await page.get_by_test_id("save-branding").click()
    await page.wait_for_url("**/ui/platform/branding?notice=saved")
    defaults = (await console.api.get("/v1/platform/branding")).json()["branding"]
    assert (defaults["display_name"], defaults["button_color"]) == (default_name, "#0F766E")

    # A default icon, with the API's upload checks; then removed again.
    await page.set_input_files(
        "#icon-file",
        files=[{"name": "icon.png", "mimeType": "image/png", "buffer": image(128, 128)}],
    )
    await page.get_by_test_id("upload-icon").click()
    await page.wait_for_url("**/ui/platform/branding?notice=uploaded")
    icon = (await console.api.get("/v1/platform/branding")).json()["branding"]["icon"]
    assert await page.get_by_test_id("current-icon").inner_text() == icon
    await page.get_by_test_id("clear-icon").click()
    await page.wait_for_url("**/ui/platform/branding?notice=cleared")
    assert "icon" not in (await console.api.get("/v1/platform/branding")).json()["branding"]
    await page.context.close()


async def test_a_seller_edits_their_own_branding_and_not_another(
    console: Console, walk: Walk
) -> None:
    own = await console.new_account(f"Atelier {walk.language}")
    other = await console.new_account(f"Papeterie {walk.language}")
    page = await sign_in(walk, console, await console.key("seller", own), check=False)
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}")
    await page.get_by_role("link", name=walk.t("My branding", "Mon image de marque")).click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}/branding")
    await walk.check(page, "seller-branding")

    await page.get_by_label(background_label(walk), exact=True).fill("#FFF7ED")
    await preview_shows(page, SIDE, "backgroundColor", rgb("#FFF7ED"))
    await page.get_by_test_id("save-branding").click()
    await page.wait_for_url("**/branding?notice=saved")
    assert (await api_branding(console, own))["branding"]["background_color"] == "#FFF7ED"

    for path in (f"/ui/accounts/{other}/branding", "/ui/platform/branding"):
        answer = await page.goto(f"{console.url}{path}")
        assert answer is not None and answer.status == 404, path
        assert await page.get_by_test_id("error-code").inner_text() == "resource_missing"
    framed = await page.goto(f"{console.url}/accounts/{other}/branding/preview")
    assert framed is not None and framed.status == 404
    await page.context.close()


async def test_a_seller_reads_their_branding_when_the_platform_keeps_editing(
    console: Console, walk: Walk, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = await console.new_account(f"Épicerie {walk.language}")
    monkeypatch.setattr(
        console.runtime,
        "settings",
        msgspec.structs.replace(console.runtime.settings, sellers_edit_branding=False),
    )
    page = await sign_in(walk, console, await console.key("seller", own), check=False)
    await page.goto(f"{console.url}/ui/accounts/{own}/branding")
    assert await page.get_by_test_id("read-only").is_visible()
    assert await page.get_by_test_id("save-branding").count() == 0
    assert await page.locator("input[type=file]").count() == 0
    assert await page.get_by_test_id("preview-frame").is_visible()
    await walk.check(page, "seller-branding-read-only")
    await page.context.close()
