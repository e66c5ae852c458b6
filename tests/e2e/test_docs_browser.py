"""`/schema` renders the API document in a browser that can reach nothing but the service."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Route, async_playwright

from tests.fixtures.app import Served

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.e2e


async def test_the_docs_viewer_works_with_no_network_beyond_the_service(served: Served) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: scripts/test installs it"
    service = urlsplit(served.url).netloc
    elsewhere: list[str] = []

    async def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == service:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.route("**/*", only_the_service)
            response = await page.goto(f"{served.url}/schema")
            assert response is not None
            assert response.status == 200
            # Swagger UI drew the document: the title and an operation of ours.
            await page.locator(".swagger-ui .info .title").wait_for(timeout=15_000)
            assert "platform_service" in await page.locator(".swagger-ui .info .title").inner_text()
            assert await page.get_by_text("/v1/accounts", exact=True).first.is_visible()
        finally:
            await browser.close()
    assert elsewhere == [], f"the docs page asked the network for {elsewhere}"
