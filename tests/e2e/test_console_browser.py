"""The operator console in Debian's chromium: sign in, find a seller, follow a bulk job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.e2e.test_preview_browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.app import KeyMaker, Served
from tests.integration.test_accounts import create

pytestmark = pytest.mark.e2e


async def test_operator_signs_in_finds_a_seller_and_follows_a_bulk_job(
    served: Served,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyMaker,
    tmp_path: Path,
) -> None:
    account = await create(client, admin_headers, business_name="Console Bakery")
    job = await client.post(
        "/v1/bulk-jobs",
        json={
            "kind": "branding",
            "target": {"account_ids": [account["id"]]},
            "patch": {"button_color": "#7A5AF8"},
        },
        headers=admin_headers,
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    admin_key = await make_key("admin")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{served.url}/ui/accounts")
            assert page.url.endswith("/ui/login")  # not signed in yet
            await page.fill("input[name=key]", "psk_wrong_key")
            await page.click("input[type=submit]")
            assert "unknown or revoked" in await page.get_by_test_id("login-error").inner_text()
            await page.fill("input[name=key]", admin_key)
            await page.click("input[type=submit]")
            await page.wait_for_url(f"{served.url}/ui/accounts")
            await page.fill("input[name=q]", "Console Bakery")
            await page.click("button[type=submit] >> text=Search")
            await page.click("text=Console Bakery")
            await page.wait_for_url(f"{served.url}/ui/accounts/{account['id']}")
            assert "not started" in await page.get_by_test_id("onboarding").inner_text()
            assert "Branding" in await page.get_by_test_id("branding").inner_text()
            await page.screenshot(path=str(tmp_path / "account.png"), full_page=True)

            await page.goto(f"{served.url}/ui/bulk-jobs/{job_id}")
            for _ in range(50):
                if "succeeded" in await page.get_by_test_id("job-status").inner_text():
                    break
                await asyncio.sleep(0.3)
                await page.reload()
            assert "1 succeeded" in await page.get_by_test_id("job-counts").inner_text()

            # A seller signs in and lands on their own account only.
            seller = await browser.new_page()
            await seller.goto(f"{served.url}/ui/login")
            await seller.fill("input[name=key]", await make_key("seller", account["id"]))
            await seller.click("input[type=submit]")
            await seller.wait_for_url(f"{served.url}/ui/accounts/{account['id']}")
            other = await seller.goto(f"{served.url}/ui/bulk-jobs")
            assert other is not None
            assert other.status == 404
        finally:
            await browser.close()
