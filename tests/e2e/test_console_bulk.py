"""The bulk job wizard and portal sessions in Debian's chromium, in English and in French:
a branding job by ticked accounts (a refused patch stores nothing; the dry run's diff
before anything is sent; canary, approve, the CSV), a portal settings job by filter
cancelled after its canary, a job by CSV upload (a malformed file and unknown ids refused) whose failed item is
retried, and a seller (and an operator) opening a customer's portal. Results are checked
through the JSON API and the sandbox's request log; every page goes through axe-core,
both screenshot widths and the French check (`console_pages.Walk`).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import stripe
from playwright.async_api import Page

from platform_service.sandbox.server import SandboxServer
from platform_service.settings import Settings
from tests.e2e import test_console_journeys as journeys
from tests.e2e.console_pages import Walk
from tests.e2e.test_console_journeys import Console, serve_console, sign_in, wait_for
from tests.integration.test_accounts import drive, sandbox_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FINISHED = {"succeeded", "partially_failed", "failed", "cancelled"}


@pytest.fixture(scope="module")
async def console(
    settings: Settings, migrated: str, sandbox: SandboxServer
) -> AsyncIterator[Console]:
    """A service of its own whose items fail fast: two attempts, no SDK retries."""
    fast = msgspec.structs.replace(
        settings, bulk_max_attempts=2, bulk_backoff_s=0.05, stripe_max_network_retries=0
    )
    async with serve_console(fast, sandbox) as served:
        yield served


browser = journeys.browser
walk = journeys.walk


@pytest.fixture
def stripe_faults(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox's fault switchboard; what a test queued is cleared afterwards."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        yield admin
        admin.post("/_sandbox/faults", json={"clear_next": True}).raise_for_status()


async def job(console: Console, job_id: str) -> dict[str, Any]:
    return dict((await console.api.get(f"/v1/bulk-jobs/{job_id}")).json())


async def items(console: Console, job_id: str) -> list[dict[str, Any]]:
    resp = await console.api.get(f"/v1/bulk-jobs/{job_id}/items")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


async def job_reaches(console: Console, job_id: str, statuses: set[str]) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = await job(console, job_id)
        return found if found["status"] in statuses else None

    # Generous: on a loaded CI machine a job waited out a minute once (no error logged).
    found: dict[str, Any] = await wait_for(reached, f"{job_id} in {statuses}", timeout=150)
    return found


async def jobs_created(console: Console) -> int:
    resp = await console.api.get(
        "/v1/audit-events", params={"action": "bulk_job.created", "limit": 100}
    )
    return len(resp.json()["data"])


def account_writes(console: Console, since: int, ids: list[str]) -> list[dict[str, Any]]:
    """What the service sent Stripe to change these accounts since `since`."""
    return [
        r
        for r in sandbox_requests(console.sandbox, since)
        if r["method"] == "POST" and any(r["path"] == f"/v1/accounts/{a}" for a in ids)
    ]


def log_position(console: Console) -> int:
    entries = sandbox_requests(console.sandbox)
    return int(entries[-1]["seq"]) + 1 if entries else 0


def job_id_of(page: Page) -> str:
    return page.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]


async def post_and_land(page: Page, test_id: str, *, status: int = 303) -> None:
    """Click a form's button; its post must answer `status` and land on a page."""
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id(test_id).click()
    assert (await answered.value).status == status
    await page.wait_for_load_state()


async def dry_run_shown(page: Page, console: Console) -> str:
    """Submit the wizard's dry run; wait on its page until the diff table is there."""
    await post_and_land(page, "dry-run")
    await page.wait_for_url(f"{console.url}/ui/bulk-jobs/bulk_*")
    dry_id = job_id_of(page)
    await job_reaches(console, dry_id, FINISHED)
    # The page follows the job over SSE and reloads when it ends.
    await page.get_by_test_id("apply-form").wait_for(timeout=30_000)
    return dry_id


async def new_wizard(walk: Walk, console: Console) -> Page:
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/bulk-jobs")
    await page.get_by_test_id("new-bulk-job").click()
    await page.wait_for_url(f"{console.url}/ui/bulk-jobs/new")
    return page


# -- a branding job: ticked accounts, dry run, canary, approve, CSV ------------------------------


async def test_a_branding_job_by_ticked_accounts_dry_run_canary_and_approve(
    console: Console, walk: Walk
) -> None:
    ids = [await console.new_account(f"Ticked {walk.language} {n}") for n in range(3)]
    page = await new_wizard(walk, console)
    await walk.check(page, "bulk-new")

    await page.get_by_test_id("target_mode-accounts").check()
    for account_id in ids:
        await page.get_by_test_id(f"tick-{account_id}").check()
    colour = page.get_by_label(walk.t("Button colour", "Couleur des boutons"), exact=True)
    # The picker beside the hex input is the console's script's; it fills the hex input.
    picker = page.locator("input[type=color][data-hex=b_button_color]")
    assert await picker.is_visible()
    await picker.fill("#336699")
    assert await colour.input_value() == "#336699"

    # A colour Stripe would refuse: said beside its field, and no job is stored.
    before = await jobs_created(console)
    await colour.fill("blue")
    await post_and_land(page, "dry-run", status=422)
    assert await page.get_by_test_id("error-b_button_color").is_visible()
    assert await colour.get_attribute("aria-invalid") == "true"
    assert await jobs_created(console) == before
    for account_id in ids:  # the ticks stay
        assert await page.get_by_test_id(f"tick-{account_id}").is_checked()
    await walk.check(page, "bulk-new-invalid")

    # The dry run: the diff per account, nothing sent to Stripe.
    since = log_position(console)
    await colour.fill("#7a5af8")
    dry_id = await dry_run_shown(page, console)
    dry = await job(console, dry_id)
    assert (dry["dry_run"], dry["total"], dry["status"]) == (True, 3, "succeeded")
    rows = page.locator("[data-testid=diff-table] tr[data-account]")
    assert {await r.get_attribute("data-account") for r in await rows.all()} == set(ids)
    assert "#7A5AF8" in await page.get_by_test_id("diff-table").inner_text()
    assert all(
        i["diff"]["button_color"]["after"] == "#7A5AF8" for i in await items(console, dry_id)
    )
    assert account_writes(console, since, ids) == []
    await walk.check(page, "bulk-dry-run")

    # Run it with a canary of one: it pauses, the page shows it, approve the rest.
    await page.get_by_label(walk.t("Canary size (accounts)", "Taille du canari (comptes)")).fill(
        "1"
    )
    await post_and_land(page, "run-for-real")
    await page.wait_for_url(f"{console.url}/ui/bulk-jobs/bulk_*")
    real_id = job_id_of(page)
    assert real_id != dry_id
    paused = await job_reaches(console, real_id, {"paused", *FINISHED})
    assert (paused["status"], paused["succeeded"], paused["pending"]) == ("paused", 1, 2)
    await page.get_by_test_id("approve").wait_for(timeout=30_000)
    await walk.check(page, "bulk-job-paused")
    await post_and_land(page, "approve")
    done = await job_reaches(console, real_id, FINISHED)
    assert (done["status"], done["succeeded"]) == ("succeeded", 3)
    assert done["canary"] == {"size": 1, "approved": True}
    assert len(account_writes(console, since, ids)) == 3
    for account_id in ids:
        account = httpx.get(
            f"{console.sandbox.url}/v1/accounts/{account_id}",
            headers={"Authorization": f"Bearer {console.sandbox.secret_key}"},
        ).json()
        assert account["settings"]["branding"]["primary_color"] == "#7A5AF8"
    await page.reload()
    await walk.check(page, "bulk-job-done")

    async with page.expect_download() as downloading:
        await page.get_by_test_id("items-csv").click()
    download = await downloading.value
    assert download.suggested_filename == f"{real_id}-items.csv"
    text = Path(await download.path()).read_text()
    assert all(f"{a},succeeded" in text for a in ids)
    await page.context.close()


# -- by filter, cancelled after its canary -----------------------------------------------------


async def test_a_job_by_filter_shows_its_count_and_is_cancelled_after_its_canary(
    console: Console, walk: Walk
) -> None:
    token = secrets.token_hex(4)
    ids = [await console.new_account(f"Filtered {token} {n}") for n in range(3)]
    page = await new_wizard(walk, console)
    await page.get_by_test_id("target_mode-filter").check()
    await page.get_by_label(walk.t("Search", "Rechercher"), exact=True).fill(token)
    await page.get_by_label(walk.t("Country", "Pays"), exact=True).select_option("FR")
    await post_and_land(page, "count", status=200)
    assert await page.get_by_test_id("match-count").get_attribute("data-count") == "3"
    # A portal settings patch; a headline past Stripe's 60 characters is refused beside it.
    await page.get_by_test_id("kind-portal_settings").check()
    await page.locator("#p_invoice_history").select_option("off")
    headline = page.get_by_label(walk.t("Headline", "Titre"), exact=True)
    await headline.fill("x" * 61)
    await post_and_land(page, "dry-run", status=422)
    assert await page.get_by_test_id("error-p_headline").is_visible()
    assert await page.get_by_test_id("match-count").count() == 1  # the filter stays
    await walk.check(page, "bulk-new-filter")
    await headline.fill("Billing, simply")

    dry_id = await dry_run_shown(page, console)
    diffs = [i["diff"] for i in await items(console, dry_id)]
    assert all(d["invoice_history.invoice_history"]["after"] is False for d in diffs), diffs
    await page.get_by_label(walk.t("Canary size (accounts)", "Taille du canari (comptes)")).fill(
        "1"
    )
    await post_and_land(page, "run-for-real")
    real_id = job_id_of(page)
    await job_reaches(console, real_id, {"paused", *FINISHED})
    await page.get_by_test_id("cancel").wait_for(timeout=30_000)
    await post_and_land(page, "cancel")
    cancelled = await job(console, real_id)
    assert (cancelled["status"], cancelled["succeeded"], cancelled["skipped"]) == (
        "cancelled",
        1,
        2,
    )
    assert sorted(i["account_id"] for i in await items(console, real_id)) == sorted(ids)
    skipped = page.get_by_test_id("skipped-items")
    assert await skipped.locator("code", has_text="cancelled").count() == 2
    await walk.check(page, "bulk-job-cancelled")
    await page.context.close()


# -- by CSV upload, a failed item retried --------------------------------------------------------


async def test_a_job_by_csv_upload_refuses_bad_files_and_retries_its_failed_item(
    console: Console, walk: Walk, stripe_faults: httpx.Client
) -> None:
    ids = [await console.new_account(f"Uploaded {walk.language} {n}") for n in range(2)]
    page = await new_wizard(walk, console)
    await page.get_by_test_id("target_mode-csv").check()
    await page.get_by_test_id("kind-branding").check()
    await page.get_by_label(walk.t("Background colour", "Couleur d'arrière-plan"), exact=True).fill(
        "#F0F4FF"
    )
    upload = page.get_by_label(walk.t("CSV file", "Fichier CSV"), exact=True)
    before = await jobs_created(console)

    await upload.set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"account_id\nnot-an-id\n"}]
    )
    await post_and_land(page, "dry-run", status=422)
    assert "2" in await page.get_by_test_id("error-csv_file").inner_text()  # line 2 named
    unknown = "acct_NoSuchAccount1"
    await upload.set_input_files(
        files=[
            {
                "name": "unknown.csv",
                "mimeType": "text/csv",
                "buffer": f"{ids[0]}\n{unknown}\n".encode(),
            }
        ]
    )
    await post_and_land(page, "dry-run", status=422)
    assert unknown in await page.get_by_test_id("error-csv_file").inner_text()
    assert await jobs_created(console) == before
    await walk.check(page, "bulk-new-csv-invalid")

    await upload.set_input_files(
        files=[
            {
                "name": "accounts.csv",
                "mimeType": "text/csv",
                "buffer": ("account_id\n" + "\n".join(ids) + "\n").encode(),
            }
        ]
    )
    await dry_run_shown(page, console)
    # Stripe answers 500 to both attempts the service makes for the first account.
    stripe_faults.post(
        "/_sandbox/faults",
        json={
            "next": [
                {"kind": "500", "count": 2, "method": "POST", "path": f"/v1/accounts/{ids[0]}"}
            ]
        },
    ).raise_for_status()
    await post_and_land(page, "run-for-real")
    real_id = job_id_of(page)
    failed = await job_reaches(console, real_id, FINISHED)
    assert (failed["status"], failed["failed"], failed["succeeded"]) == ("partially_failed", 1, 1)
    await page.get_by_test_id("retry-failed").wait_for(timeout=30_000)
    assert ids[0] in await page.get_by_test_id("failed-items").inner_text()
    await walk.check(page, "bulk-job-failed")

    await post_and_land(page, "retry-failed")
    done = await job_reaches(console, real_id, FINISHED)
    assert (done["status"], done["succeeded"], done["failed"]) == ("succeeded", 2, 0)
    await page.reload()
    assert await page.get_by_test_id("failed-items").count() == 0
    await walk.check(page, "bulk-job-retried")
    await page.context.close()


# -- portal sessions ------------------------------------------------------------------------------


async def ready_account(
    console: Console,
    stripe_client: stripe.StripeClient,
    name: str,
    charge_model: str,
    accounts_api: str = "v1",
) -> str:
    """An onboarded account of `charge_model` whose portal configuration is on Stripe."""
    resp = await console.api.post(
        "/v1/accounts",
        json={
            "external_ref": f"console_{secrets.token_hex(6)}",
            "email": "owner@console.example",
            "country": "FR",
            "business_name": name,
            "charge_model": charge_model,
            "accounts_api": accounts_api,
        },
    )
    assert resp.status_code == 201, resp.text
    account_id = str(resp.json()["id"])
    drive(console.sandbox, account_id, "complete")
    synced = await console.api.post(f"/v1/accounts/{account_id}/sync")
    assert synced.json()["charges_enabled"] is True, synced.text

    async def configured() -> bool:
        body = (await console.api.get(f"/v1/accounts/{account_id}/portal-settings")).json()
        return bool(body["sync"].get("configuration_id")) and body["sync"]["status"] == "in_sync"

    await wait_for(configured, f"{account_id} portal configuration")
    return account_id


async def test_a_seller_opens_a_portal_session_for_their_customer(
    console: Console, walk: Walk, sandbox_client: stripe.StripeClient
) -> None:
    own = await ready_account(console, sandbox_client, f"Portal {walk.language}", "direct")
    other = await ready_account(console, sandbox_client, f"Elsewhere {walk.language}", "direct")
    mine = sandbox_client.v1.customers.create(
        {"name": "Ada Lovelace", "email": "ada@portal.example"}, {"stripe_account": own}
    )
    theirs = sandbox_client.v1.customers.create(
        {"name": "Grace Hopper", "email": "grace@portal.example"}, {"stripe_account": other}
    )
    seller_key = await console.key("seller", own)
    page = await sign_in(walk, console, seller_key, check=False)
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}")
    await page.get_by_role(
        "link", name=walk.t("Open a customer's portal", "Ouvrir le portail d'un client")
    ).click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}/portal-session")
    await walk.check(page, "portal-session")
    options = await page.get_by_test_id("customer").locator("option").all_inner_texts()
    assert any(mine.id in o for o in options)
    assert not any(theirs.id in o for o in options)

    # Another seller's customer, posted by hand, is refused; nothing is opened.
    await page.evaluate(
        """id => { const f = document.querySelector('[data-testid=portal-session-form]');
        f.querySelector('select').add(new Option(id, id, true, true)); }""",
        theirs.id,
    )
    await post_and_land(page, "open-portal")
    assert page.url.endswith("error=customer_not_found")
    await walk.check(page, "portal-session-refused")

    await page.get_by_test_id("customer").select_option(mine.id)
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("open-portal").click()
    opened = await answered.value
    assert opened.status == 303
    assert opened.headers["cache-control"] == "no-store"
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/portal/*")
    url = page.url
    events = (
        await console.api.get(
            "/v1/audit-events", params={"action": "portal_session.created", "account_id": own}
        )
    ).json()["data"]
    assert [e["after"]["customer"] for e in events] == [mine.id]
    assert events[0]["actor"] != console.admin_actor  # the seller opened it
    assert url not in str(events)  # the bearer link is not kept

    # Another seller's picker is a 404.
    answer = await page.goto(f"{console.url}/ui/accounts/{other}/portal-session")
    assert answer is not None and answer.status == 404
    await page.context.close()


@pytest.mark.parametrize("charge_model", ["direct", "destination_on_behalf_of"])
async def test_a_v2_seller_opens_the_portal_of_a_customer_account(
    console: Console, walk: Walk, sandbox_client: stripe.StripeClient, charge_model: str
) -> None:
    """On Accounts v2 a customer is an Account (`customer_account`): the picker lists the
    seller's, in its context for direct charges, tagged with its id on the platform."""
    own = await ready_account(
        console, sandbox_client, f"V2 {walk.language}", charge_model, accounts_api="v2"
    )
    home: Any = {"stripe_context": own} if charge_model == "direct" else {}
    tag = {} if home else {"metadata": {"platform_account_id": own}}
    mine = sandbox_client.v2.core.accounts.create(
        {
            "display_name": "Ada Lovelace",
            "contact_email": "ada@v2.example",
            "configuration": {"customer": {}},
            **tag,
        },
        home,
    )
    stranger = sandbox_client.v2.core.accounts.create(
        {"display_name": "Grace Hopper", "configuration": {"customer": {}}}
    )
    page = await sign_in(walk, console, await console.key("seller", own), check=False)
    await page.goto(f"{console.url}/ui/accounts/{own}/portal-session")
    options = await page.get_by_test_id("customer").locator("option").all_inner_texts()
    assert any(mine.id in o and "Ada Lovelace" in o for o in options), options
    assert not any(stranger.id in o for o in options)
    await walk.check(page, f"portal-session-v2-{charge_model}")

    await page.evaluate(
        """id => { const f = document.querySelector('[data-testid=portal-session-form]');
        f.querySelector('select').add(new Option(id, id, true, true)); }""",
        stranger.id,
    )
    await post_and_land(page, "open-portal")
    assert page.url.endswith("error=customer_not_found")

    await page.get_by_test_id("customer").select_option(mine.id)
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("open-portal").click()
    assert (await answered.value).status == 303
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/portal/*")
    events = (
        await console.api.get(
            "/v1/audit-events", params={"action": "portal_session.created", "account_id": own}
        )
    ).json()["data"]
    assert [e["after"]["customer_account"] for e in events] == [mine.id]
    await page.context.close()


async def test_an_operator_opens_the_portal_of_a_platform_customer_from_the_account_page(
    console: Console, walk: Walk, sandbox_client: stripe.StripeClient
) -> None:
    seller = await ready_account(
        console, sandbox_client, f"Destination {walk.language}", "destination"
    )
    tagged = sandbox_client.v1.customers.create(
        {
            "name": "Linus",
            "email": "linus@shop.example",
            "metadata": {"platform_account_id": seller},
        }
    )
    untagged = sandbox_client.v1.customers.create({"name": "Nobody", "email": "n@shop.example"})
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/accounts/{seller}")
    await page.get_by_test_id("portal-session-link").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{seller}/portal-session")
    options = await page.get_by_test_id("customer").locator("option").all_inner_texts()
    assert any(tagged.id in o for o in options)
    assert not any(untagged.id in o for o in options)
    await walk.check(page, "portal-session-platform")
    await page.get_by_test_id("customer").select_option(tagged.id)
    await post_and_land(page, "open-portal")
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/portal/*")
    await page.context.close()
