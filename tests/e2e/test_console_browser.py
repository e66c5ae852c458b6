"""The operator console in Debian's chromium: sign in, find a seller, follow a bulk job, and
click every action the console offers, each checked through the JSON API and the audit log.

The action buttons are form posts answered with a 303; their writes must commit like a
JSON 200 (the transaction rule), which is what these tests would catch if they did not.
Screenshots go to tests/e2e/screenshots/ (and console/en/, with axe-core's check, for the
console's own pages).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from playwright.async_api import Browser, Page, async_playwright

from platform_service.app import create_app
from platform_service.auth.keys import create_key
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from platform_service.settings import Settings
from tests.e2e.console_pages import check_console_page
from tests.e2e.test_preview_browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.app import KeyMaker, Served, serve_app
from tests.integration.test_accounts import create, sandbox_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SCREENSHOTS = Path(__file__).parent / "screenshots"
FINISHED = {"succeeded", "partially_failed", "failed", "cancelled"}


async def test_operator_signs_in_finds_a_seller_and_follows_a_bulk_job(
    served: Served,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyMaker,
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
            assert "/ui/login?next=" in page.url  # not signed in yet
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
            await shoot(page, "account")

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


# -- every console action ---------------------------------------------------------------


@dataclass
class Console:
    """A service of its own whose items fail fast: two attempts, no SDK retries."""

    url: str
    sandbox: SandboxServer
    api: httpx.AsyncClient
    admin_key: str
    admin_actor: str


@pytest.fixture(scope="module")
async def console(
    settings: Settings, migrated: str, sandbox: SandboxServer
) -> AsyncIterator[Console]:
    fast = msgspec.structs.replace(
        settings, bulk_max_attempts=2, bulk_backoff_s=0.05, stripe_max_network_retries=0
    )
    runtime = Runtime.build(fast, role="api")
    app = create_app(fast, runtime=runtime)
    server, task, url = await serve_app(app)
    runtime.public_url = url
    async with runtime.session() as session, session.begin():
        row, key = await create_key(session, role="admin")
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        yield Console(url, sandbox, api, key, f"admin:{row.id}")
    server.should_exit = True
    await task
    await runtime.aclose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def stripe_faults(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox's fault switchboard; what a test queued is cleared afterwards."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        yield admin
        admin.post("/_sandbox/faults", json={"clear_next": True}).raise_for_status()


async def signed_in(browser: Browser, console: Console) -> Page:
    page = await browser.new_page()
    await page.goto(f"{console.url}/ui/login")
    await page.fill("input[name=key]", console.admin_key)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{console.url}/ui/accounts")
    return page


async def shoot(page: Page, name: str) -> None:
    """A screenshot; a console page also gets the checks of every console page (axe-core,
    390 px), the sandbox's Stripe stand-in pages only the screenshot."""
    SCREENSHOTS.mkdir(exist_ok=True)
    if "/_sandbox/" not in page.url:
        await check_console_page(page, f"operator-{name}", "en")
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def click_action(page: Page, button: str, path_end: str) -> None:
    """Click a console button; its form post must answer 303 and land on a page."""
    async with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(path_end)
    ) as answered:
        await page.get_by_role("button", name=button).click()
    assert (await answered.value).status == 303
    await page.wait_for_load_state()


async def submit(console: Console, account_ids: list[str], colour: str, **extra: Any) -> str:
    resp = await console.api.post(
        "/v1/bulk-jobs",
        json={
            "kind": "branding",
            "target": {"account_ids": account_ids},
            "patch": {"button_color": colour},
            **extra,
        },
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def wait_status(console: Console, job_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = (await console.api.get(f"/v1/bulk-jobs/{job_id}")).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


async def items(console: Console, job_id: str) -> list[dict[str, Any]]:
    resp = await console.api.get(f"/v1/bulk-jobs/{job_id}/items")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


async def audited(
    console: Console, action: str, *, job_id: str | None = None, account_id: str | None = None
) -> list[dict[str, Any]]:
    """The audit events of `action` about this job (or account)."""
    params: dict[str, Any] = {"action": action, "limit": 100}
    if account_id is not None:
        params["account_id"] = account_id
    resp = await console.api.get("/v1/audit-events", params=params)
    assert resp.status_code == 200, resp.text
    events = resp.json()["data"]
    if job_id is not None:
        events = [e for e in events if (e.get("after") or {}).get("job") == job_id]
    return list(events)


async def new_accounts(console: Console, n: int) -> list[str]:
    return [(await create(console.api, {}))["id"] for _ in range(n)]


async def test_cancel_and_approve_a_canary_from_the_console(
    console: Console, browser: Browser
) -> None:
    ids = await new_accounts(console, 6)
    to_approve = await submit(console, ids[:3], "#2B6CB0", canary={"count": 1})
    to_cancel = await submit(console, ids[3:], "#C53030", canary={"count": 1})
    for job_id in (to_approve, to_cancel):
        paused = await wait_status(console, job_id, {"paused", *FINISHED})
        assert paused["status"] == "paused"
        assert (paused["succeeded"], paused["pending"]) == (1, 2)
    page = await signed_in(browser, console)

    await page.goto(f"{console.url}/ui/bulk-jobs/{to_approve}")
    assert "paused" in await page.get_by_test_id("job-status").inner_text()
    await shoot(page, "bulk-job-paused")
    await click_action(page, "Approve canary and continue", "/resume")
    done = await wait_status(console, to_approve, FINISHED)
    assert done["status"] == "succeeded"
    assert done["canary"] == {"size": 1, "approved": True}
    assert [i["status"] for i in await items(console, to_approve)] == ["succeeded"] * 3
    [resumed] = await audited(console, "bulk_job.resumed", job_id=to_approve)
    assert resumed["actor"] == console.admin_actor
    await page.reload()
    assert "3 succeeded" in await page.get_by_test_id("job-counts").inner_text()
    await shoot(page, "bulk-job-approved")

    await page.goto(f"{console.url}/ui/bulk-jobs/{to_cancel}")
    await click_action(page, "Cancel", "/cancel")
    assert "cancelled" in await page.get_by_test_id("job-status").inner_text()
    await shoot(page, "bulk-job-cancelled")
    job = (await console.api.get(f"/v1/bulk-jobs/{to_cancel}")).json()
    assert (job["status"], job["succeeded"], job["skipped"]) == ("cancelled", 1, 2)
    assert [(i["status"], i.get("error_code")) for i in await items(console, to_cancel)] == [
        ("succeeded", None),
        ("skipped", "cancelled"),
        ("skipped", "cancelled"),
    ]
    [cancelled] = await audited(console, "bulk_job.cancelled", job_id=to_cancel)
    assert cancelled["actor"] == console.admin_actor

    # Cancelling again is refused: the page says why, and nothing more is written.
    await page.goto(f"{console.url}/ui/bulk-jobs/{to_approve}")
    await page.evaluate(
        """jobId => { const f = document.createElement('form'); f.method = 'post';
        f.action = `/ui/bulk-jobs/${jobId}/cancel`;
        f.appendChild(document.querySelector('input[name=csrf_token]').cloneNode());
        document.body.appendChild(f); f.submit(); }""",
        to_approve,
    )
    await page.wait_for_url(f"**/ui/bulk-jobs/{to_approve}?error=job_finished")
    assert "job_finished" in await page.get_by_test_id("action-error").inner_text()
    assert (await console.api.get(f"/v1/bulk-jobs/{to_approve}")).json()["status"] == "succeeded"
    assert await audited(console, "bulk_job.cancelled", job_id=to_approve) == []


async def test_retry_failed_items_and_download_them_from_the_console(
    console: Console, browser: Browser, stripe_faults: httpx.Client
) -> None:
    ids = await new_accounts(console, 2)
    # Stripe answers 500 to both attempts the service makes for the first account.
    stripe_faults.post(
        "/_sandbox/faults",
        json={
            "next": [
                {"kind": "500", "count": 2, "method": "POST", "path": f"/v1/accounts/{ids[0]}"}
            ]
        },
    ).raise_for_status()
    job_id = await submit(console, ids, "#276749")
    failed = await wait_status(console, job_id, FINISHED)
    assert (failed["status"], failed["failed"], failed["succeeded"]) == ("partially_failed", 1, 1)
    page = await signed_in(browser, console)

    await page.goto(f"{console.url}/ui/bulk-jobs/{job_id}")
    assert ids[0] in await page.get_by_test_id("failed-items").inner_text()
    await shoot(page, "bulk-job-failed")
    async with page.expect_download() as downloading:
        await page.get_by_test_id("items-csv").click()
    download = await downloading.value
    assert download.suggested_filename == f"{job_id}-items.csv"
    saved = await download.path()
    rows = list(csv.DictReader(io.StringIO(Path(saved).read_text())))
    assert [(r["account_id"], r["status"]) for r in rows] == [
        (ids[0], "failed"),
        (ids[1], "succeeded"),
    ]
    assert rows[0]["error_code"]

    await click_action(page, "Retry failed items", "/retry-failed")
    done = await wait_status(console, job_id, FINISHED)
    assert (done["status"], done["succeeded"], done["failed"]) == ("succeeded", 2, 0)
    assert [i["status"] for i in await items(console, job_id)] == ["succeeded", "succeeded"]
    [retried] = await audited(console, "bulk_job.retried", job_id=job_id)
    assert retried["actor"] == console.admin_actor
    assert retried["after"]["items"] == 1
    await page.reload()
    assert "2 succeeded" in await page.get_by_test_id("job-counts").inner_text()
    await shoot(page, "bulk-job-retried")


async def test_continue_onboarding_from_the_console_then_its_refresh_link_works(
    console: Console, browser: Browser
) -> None:
    [account_id] = await new_accounts(console, 1)
    page = await signed_in(browser, console)
    await page.goto(f"{console.url}/ui/accounts/{account_id}")
    async with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/onboarding-link")
    ) as answered:
        await page.get_by_role("button", name="Continue onboarding on Stripe").click()
    assert (await answered.value).status == 303
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/onboarding/*")
    assert await page.get_by_test_id("account-id").inner_text() == account_id
    await shoot(page, "onboarding-on-stripe")
    first_link = page.url

    account = (await console.api.get(f"/v1/accounts/{account_id}")).json()
    assert account["onboarding"]["status"] == "in_progress"
    [created] = await audited(console, "account.onboarding_link_created", account_id=account_id)
    assert created["actor"] == console.admin_actor
    assert await audited(console, "account.onboarding_started", account_id=account_id)

    # The seller leaves half way: the link is used up and Stripe's page sends them back.
    await page.get_by_test_id("half-complete").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{account_id}")
    # Opening the used link again, Stripe sends the browser to the service's refresh URL,
    # which mints a fresh link: the console-started onboarding kept its refresh token.
    await page.goto(first_link)
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/onboarding/*")
    assert page.url != first_link
    assert await page.get_by_test_id("account-id").inner_text() == account_id
    await shoot(page, "onboarding-refreshed")

    refresh_urls = [
        r["params"]["refresh_url"]
        for r in sandbox_requests(console.sandbox)
        if r["path"] == "/v1/account_links" and r["params"].get("account") == account_id
    ]
    assert refresh_urls[0].startswith(f"{console.url}/accounts/{account_id}/onboarding/refresh?")
    async with httpx.AsyncClient() as anonymous:  # Stripe's redirect carries no API key
        refreshed = await anonymous.get(refresh_urls[0])
    assert refreshed.status_code == 303, refreshed.text
    assert refreshed.headers["location"].startswith(
        f"{console.sandbox.url}/_sandbox/pages/onboarding/"
    )
