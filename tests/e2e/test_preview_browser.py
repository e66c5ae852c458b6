"""The branding preview as a seller sees it: Debian's chromium, driven by Playwright."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.fixtures.app import KeyMaker, Served, seller_headers
from tests.integration.test_accounts import create

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.e2e


async def test_seller_sees_their_colours_name_and_headline_in_the_preview(
    served: Served,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyMaker,
    tmp_path: Path,
) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: scripts/test installs it"
    account = await create(
        client, admin_headers, business_name="Blue Fern Studio", charge_model="direct"
    )
    resp = await client.put(
        f"/v1/accounts/{account['id']}/branding",
        json={"button_color": "#0A2540", "background_color": "#F6F9FC", "border_style": "pill"},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    headers = await seller_headers(make_key, account["id"])

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(extra_http_headers=headers)
            response = await page.goto(
                f"{served.url}/accounts/{account['id']}/branding/preview?headline=Billing%20made%20easy"
            )
            assert response is not None
            assert response.status == 200
            await page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)
            assert await page.get_by_test_id("preview-banner").is_visible()
            assert "Billing made easy" in await page.get_by_test_id("portal-headline").inner_text()
            assert "Blue Fern Studio" in await page.get_by_test_id("portal-side").inner_text()
            # The seed's defaults offer no plan switching: no "Update subscription" button,
            # as in the real portal. The brand colour shows on the payment-method link.
            assert await page.get_by_test_id("portal-button").count() == 0
            link = page.locator('[data-feature="payment_method_update"] a')
            colour = await link.evaluate("el => getComputedStyle(el).color")
            radius = await page.locator(".card").first.evaluate(
                "el => parseFloat(getComputedStyle(el).borderTopLeftRadius)"
            )
            assert colour == "rgb(10, 37, 64)"
            # Shapes come from Stripe's Dashboard: drawn as Stripe's default, listed to set there.
            assert radius < 12
            checklist = page.get_by_test_id("preview-checklist")
            assert "pill" in await checklist.locator('[data-setting="border_style"]').inner_text()
            # Another seller's preview is a 404, in the browser too.
            other = await create(client, admin_headers)
            denied = await page.goto(f"{served.url}/accounts/{other['id']}/branding/preview")
            assert denied is not None
            assert denied.status == 404
        finally:
            await browser.close()
