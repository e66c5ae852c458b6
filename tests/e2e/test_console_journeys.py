"""The console's journeys in Debian's chromium, each in English and in French: create a
seller and finish onboarding, replay a dead letter from the webhook inbox, read the audit
log, a seller kept to their own account, sign out. Results are checked through the JSON
API; every page visited goes through axe-core, both screenshot widths and (in French) the
untranslated-string check (`console_pages.Walk`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
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
from platform_service.webhooks import dispatch
from platform_service.webhooks import jobs as webhook_jobs
from tests.e2e.console_pages import CHROMIUM, CHROMIUM_ARGS, Walk
from tests.fixtures.app import serve_app
from tests.integration.test_webhooks import make_event, sign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CONNECT_SECRET = "whsec_console_connect"
EVENT_TYPE = "test.console_noop"


@dataclass
class Console:
    url: str
    sandbox: SandboxServer
    runtime: Runtime
    api: httpx.AsyncClient
    admin_key: str
    admin_actor: str

    async def key(self, role: str, account_id: str | None = None) -> str:
        async with self.runtime.session() as session, session.begin():
            _, raw = await create_key(
                session, role="admin" if role == "admin" else "seller", account_id=account_id
            )
        return raw

    async def new_account(self, name: str) -> str:
        resp = await self.api.post(
            "/v1/accounts",
            json={
                "external_ref": f"console_{secrets.token_hex(6)}",
                "email": "owner@console.example",
                "country": "FR",
                "business_name": name,
                "charge_model": "direct",
            },
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])


@pytest.fixture(scope="module")
async def console(
    settings: Settings, migrated: str, sandbox: SandboxServer
) -> AsyncIterator[Console]:
    """A service of its own that verifies Connect webhooks with a secret the test signs with."""
    own = msgspec.structs.replace(settings, stripe_connect_webhook_secrets=(CONNECT_SECRET,))
    async with serve_console(own, sandbox) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_console(settings: Settings, sandbox: SandboxServer) -> AsyncIterator[Console]:
    """The service on `settings`, served over HTTP, with an admin key and an API client."""
    runtime = Runtime.build(settings, role="api")
    server, task, url = await serve_app(create_app(settings, runtime=runtime))
    runtime.public_url = url
    try:
        async with runtime.session() as session, session.begin():
            row, key = await create_key(session, role="admin")
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            yield Console(url, sandbox, runtime, api, key, f"admin:{row.id}")
    finally:
        server.should_exit = True
        await task
        await runtime.aclose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(params=["en", "fr"])
def walk(request: pytest.FixtureRequest, browser: Browser) -> Walk:
    return Walk(browser, request.param)


async def sign_in(walk: Walk, console: Console, key: str, *, check: bool = True) -> Page:
    """Sign in with the keyboard only: the key field, then Enter."""
    context = await walk.context()
    page = await context.new_page()
    await page.goto(f"{console.url}/ui/login")
    if check:
        await walk.check(page, "sign-in")
    await page.keyboard.press("Tab")  # the skip link comes first
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.focus("#key")
    await page.keyboard.type(key)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    return page


async def wait_for(predicate: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


# -- accounts -------------------------------------------------------------------------------


async def test_create_a_seller_and_complete_onboarding_in_the_sandbox(
    console: Console, walk: Walk
) -> None:
    await console.new_account(f"Listed {walk.language}")  # the list has a row to lay out
    page = await sign_in(walk, console, console.admin_key)
    await page.wait_for_url(f"{console.url}/ui/accounts")
    await walk.check(page, "accounts")

    await page.get_by_role("link", name=walk.t("New seller", "Nouveau vendeur")).first.click()
    await page.wait_for_url(f"{console.url}/ui/accounts/new")
    await walk.check(page, "new-seller")

    # Every input has a label; a wrong email is refused beside its field.
    name = f"Boulangerie {walk.language} {secrets.token_hex(3)}"
    ref = f"console_{secrets.token_hex(6)}"
    await page.get_by_label(walk.t("External reference", "Référence externe")).fill(ref)
    await page.get_by_label(walk.t("Email", "Adresse e-mail")).fill("not-an-email")
    await page.get_by_label(walk.t("Country", "Pays"), exact=True).select_option("FR")
    await page.get_by_label(walk.t("Business name", "Nom de l'entreprise")).fill(name)
    await page.get_by_label(walk.t("Charge model", "Modèle de paiement")).select_option("direct")
    await page.get_by_label(walk.t("Account kind", "Type de compte")).select_option("express")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("create-seller").click()
    assert (await answered.value).status == 422
    error = page.get_by_test_id("error-email")
    assert await error.is_visible()
    assert (
        await page.get_by_label(walk.t("Email", "Adresse e-mail")).get_attribute("aria-invalid")
        == "true"
    )
    assert await page.input_value("#business_name") == name  # what was typed stays
    await walk.check(page, "new-seller-invalid")

    await page.get_by_label(walk.t("Email", "Adresse e-mail")).fill("owner@boulangerie.example")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("create-seller").click()
    created = await answered.value
    assert created.status == 200
    assert created.headers["cache-control"] == "no-store"  # it shows a bearer link
    await walk.check(page, "seller-created")
    link = await page.get_by_test_id("onboarding-link").input_value()
    assert link.startswith(f"{console.sandbox.url}/_sandbox/pages/onboarding/")
    copy = page.get_by_role("button", name=walk.t("Copy link", "Copier le lien"))
    assert await copy.is_visible()  # shown by the console's script, not inline code
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await copy.click()
    await page.wait_for_function("document.getElementById('copy-status').textContent !== ''")
    assert await page.evaluate("navigator.clipboard.readText()") == link

    [account] = (await console.api.get("/v1/accounts", params={"q": ref})).json()["data"]
    assert (account["business_name"], account["country"]) == (name, "FR")
    assert account["onboarding"]["status"] == "in_progress"

    # Onboarding in the sandbox; Stripe sends the seller back to the console, which reads
    # the account from Stripe before showing it.
    await page.get_by_test_id("open-onboarding").click()
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/onboarding/*")
    assert await page.get_by_test_id("account-id").inner_text() == account["id"]
    await page.get_by_test_id("complete").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{account['id']}")
    status = page.get_by_test_id("onboarding-status")
    assert await status.get_attribute("data-status") == "active"
    assert await status.inner_text() == walk.t("active", "actif")
    assert await page.get_by_test_id("synced-at").inner_text() != walk.t("never", "jamais")
    await walk.check(page, "account-active")
    api_view = (await console.api.get(f"/v1/accounts/{account['id']}")).json()
    assert api_view["onboarding"]["status"] == "active"
    assert api_view["charges_enabled"] and api_view["payouts_enabled"]

    # "Refresh from Stripe" refetches it (the audit log says who asked).
    async with page.expect_response(lambda r: r.url.endswith("/refresh")) as refreshed:
        await page.get_by_test_id("refresh").click()
    assert (await refreshed.value).status == 303
    await page.wait_for_url(f"**/ui/accounts/{account['id']}?notice=refreshed")
    await walk.check(page, "account-refreshed")

    # The audit log, filtered by the account from its form.
    await page.goto(f"{console.url}/ui/audit")
    await walk.check(page, "audit")
    await page.get_by_label(walk.t("Account", "Compte"), exact=True).fill(account["id"])
    await page.get_by_test_id("filter").click()
    await page.wait_for_url(f"**/ui/audit?account_id={account['id']}*")
    actions = await page.get_by_test_id("audit-action").all_inner_texts()
    assert {"account.created", "account.onboarding_link_created", "account.synced"} <= set(actions)
    api_actions = (
        await console.api.get("/v1/audit-events", params={"account_id": account["id"]})
    ).json()["data"]
    assert sorted(actions) == sorted(e["action"] for e in api_actions)
    await walk.check(page, "audit-by-account")
    await page.get_by_label(walk.t("Actor", "Acteur")).fill("admin")
    await page.get_by_label(walk.t("Action", "Action"), exact=True).fill("account.synced")
    await page.get_by_test_id("filter").click()
    await page.wait_for_url("**/ui/audit?*actor=admin*")
    assert set(await page.get_by_test_id("audit-action").all_inner_texts()) == {"account.synced"}
    await page.context.close()


async def test_a_seller_on_accounts_v2_and_moving_one_from_v1(console: Console, walk: Walk) -> None:
    """The operator picks Accounts v2 for a new seller, onboards it through a v2 account
    link, and moves an existing v1 seller to v2 from its page."""
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/accounts/new")
    ref = f"console_{secrets.token_hex(6)}"
    await page.get_by_label(walk.t("External reference", "Référence externe")).fill(ref)
    await page.get_by_label(walk.t("Email", "Adresse e-mail")).fill("owner@v2.example")
    await page.get_by_label(walk.t("Country", "Pays"), exact=True).select_option("FR")
    await page.get_by_label(walk.t("Business name", "Nom de l'entreprise")).fill("Atelier V2")
    api_choice = page.get_by_label(walk.t("Stripe Accounts API", "API des comptes Stripe"))
    assert await api_choice.input_value() == "v1"  # the deployment's default
    await api_choice.select_option("v2")
    await walk.check(page, "new-seller-v2")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_test_id("create-seller").click()
    assert (await answered.value).status == 200
    [account] = (await console.api.get("/v1/accounts", params={"q": ref})).json()["data"]
    assert account["accounts_api"] == "v2"

    await page.get_by_test_id("open-onboarding").click()
    await page.wait_for_url(f"{console.sandbox.url}/_sandbox/pages/onboarding/*")
    await page.get_by_test_id("complete").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{account['id']}")
    status = page.get_by_test_id("onboarding-status")
    assert await status.get_attribute("data-status") == "active"
    assert "/v2/core/accounts" in await page.get_by_test_id("accounts-api").inner_text()
    await walk.check(page, "account-v2")

    # A seller created on v1 moves to v2 from its page; the API says so after.
    moving = await console.new_account(f"Moving {walk.language}")
    await page.goto(f"{console.url}/ui/accounts/{moving}")
    assert "/v1/accounts" in await page.get_by_test_id("accounts-api").inner_text()
    async with page.expect_response(lambda r: r.url.endswith("/accounts-api")) as moved:
        await page.get_by_test_id("move-accounts-api").click()
    assert (await moved.value).status == 303
    await page.wait_for_url(f"**/ui/accounts/{moving}?notice=moved")
    assert "/v2/core/accounts" in await page.get_by_test_id("accounts-api").inner_text()
    await walk.check(page, "account-moved-to-v2")
    assert (await console.api.get(f"/v1/accounts/{moving}")).json()["accounts_api"] == "v2"
    await page.context.close()


# -- webhook inbox --------------------------------------------------------------------------


class Flaky:
    """A handler that fails until told otherwise."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    async def __call__(self, session: Any, ctx: Any, event: dict[str, Any]) -> None:
        self.calls += 1
        if self.failing:
            raise RuntimeError("downstream exploded")


async def deliver(console: Console, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    resp = await console.api.post(
        "/v1/webhooks/stripe/connect",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, CONNECT_SECRET),
        },
    )
    assert resp.status_code == 200, resp.text


async def event_status(console: Console, event_id: str) -> str:
    return str((await console.api.get(f"/v1/webhook-events/{event_id}")).json()["status"])


async def test_replay_a_dead_lettered_webhook_from_the_inbox(
    console: Console, walk: Walk, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Flaky()
    monkeypatch.setitem(dispatch.HANDLERS, EVENT_TYPE, [handler])
    monkeypatch.setattr(webhook_jobs, "BACKOFF_BASE_S", 0.01)
    account_id = await console.new_account(f"Inbox {walk.language}")
    events = [make_event(EVENT_TYPE, account=account_id) for _ in range(2)]
    for event in events:
        await deliver(console, event)
    for event in events:
        await wait_for(
            lambda e=event: _is(console, e["id"], "failed"), f"{event['id']} dead-lettered"
        )

    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/webhooks")
    await walk.check(page, "webhooks")
    await page.get_by_label(walk.t("Status", "Statut")).select_option("failed")
    await page.get_by_label(walk.t("Account", "Compte"), exact=True).fill(account_id)
    await page.get_by_test_id("filter").click()
    await page.wait_for_url(f"**/ui/webhooks?status=failed*account_id={account_id}")
    rows = page.locator("tr[data-event]")
    assert await rows.count() == 2
    await walk.check(page, "webhooks-dead-letters")

    # Fixed downstream: replay one from its row.
    handler.failing = False
    first = page.locator(f"tr[data-event='{events[0]['id']}']")
    async with page.expect_response(lambda r: r.url.endswith("/replay")) as replayed:
        await first.get_by_test_id("replay").click()
    assert (await replayed.value).status == 303
    await page.wait_for_url("**/ui/webhooks?*notice=replayed*")
    await wait_for(lambda: _is(console, events[0]["id"], "processed"), "replayed event processed")
    assert await event_status(console, events[1]["id"]) == "failed"
    await walk.check(page, "webhooks-replayed")

    # The rest by filter: everything the filter shows.
    await page.goto(f"{console.url}/ui/webhooks?status=failed&account_id={account_id}")
    await page.get_by_test_id("replay-matching").click()
    await page.wait_for_url("**/ui/webhooks?*notice=replayed_many&count=1")
    await wait_for(lambda: _is(console, events[1]["id"], "processed"), "second event processed")
    await page.goto(f"{console.url}/ui/webhooks?account_id={account_id}")
    statuses = {
        await row.get_by_test_id("event-status").get_attribute("data-status")
        for row in await page.locator("tr[data-event]").all()
    }
    assert statuses == {"processed"}
    await walk.check(page, "webhooks-processed")
    await page.context.close()


async def _is(console: Console, event_id: str, status: str) -> bool:
    return await event_status(console, event_id) == status


# -- bulk jobs ------------------------------------------------------------------------------


async def test_follow_a_bulk_job_and_download_its_items(console: Console, walk: Walk) -> None:
    account_id = await console.new_account(f"Bulk {walk.language}")
    submitted = await console.api.post(
        "/v1/bulk-jobs",
        json={
            "kind": "branding",
            "target": {"account_ids": [account_id]},
            "patch": {"button_color": "#7A5AF8"},
        },
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    async def finished() -> bool:
        job = (await console.api.get(f"/v1/bulk-jobs/{job_id}")).json()
        return job["status"] == "succeeded"

    await wait_for(finished, f"{job_id} succeeded")
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/bulk-jobs")
    await walk.check(page, "bulk-jobs")
    await page.locator(f"a[href='/ui/bulk-jobs/{job_id}']").click()
    await page.wait_for_url(f"{console.url}/ui/bulk-jobs/{job_id}")
    status = page.get_by_test_id("job-status")
    assert await status.inner_text() == walk.t("succeeded", "réussi")
    await walk.check(page, "bulk-job")
    async with page.expect_download() as downloading:
        await page.get_by_test_id("items-csv").click()
    download = await downloading.value
    assert download.suggested_filename == f"{job_id}-items.csv"
    text = Path(await download.path()).read_text()
    assert f"{account_id}" in text and "succeeded" in text
    await page.context.close()


# -- sellers, sign-out ----------------------------------------------------------------------


async def test_a_seller_sees_their_account_and_a_404_page_for_another(
    console: Console, walk: Walk
) -> None:
    own = await console.new_account(f"Own {walk.language}")
    other = await console.new_account(f"Other {walk.language}")
    seller_key = await console.key("seller", own)
    page = await sign_in(walk, console, seller_key, check=False)
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}")
    await walk.check(page, "seller-account")
    assert await page.get_by_test_id("refresh").count() == 0  # an operator's action

    for path in (f"/ui/accounts/{other}", "/ui/accounts", "/ui/audit", "/ui/webhooks"):
        answer = await page.goto(f"{console.url}{path}")
        assert answer is not None and answer.status == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert await page.get_by_test_id("error-code").inner_text() == "resource_missing"
    await walk.check(page, "not-found")
    # The JSON API keeps its JSON error shape for the same refusal.
    async with httpx.AsyncClient(base_url=console.url) as api:
        refused = await api.get(
            f"/v1/accounts/{other}", headers={"Authorization": f"Bearer {seller_key}"}
        )
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "resource_missing"

    # The header's switcher picks the other language, and it is remembered.
    other_language = "en" if walk.language == "fr" else "fr"
    await page.goto(f"{console.url}/ui/accounts/{own}")
    await page.locator(f"header a[hreflang={other_language}]").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}")
    assert await page.evaluate("document.documentElement.lang") == other_language
    await page.reload()
    assert await page.evaluate("document.documentElement.lang") == other_language
    await page.context.close()


async def test_sign_out_revokes_the_session(console: Console, walk: Walk) -> None:
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.wait_for_url(f"{console.url}/ui/accounts")
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "ps_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert console.admin_key not in cookie["value"]  # a session id, never the key

    async with httpx.AsyncClient(base_url=console.url, follow_redirects=False) as stolen:
        stolen.cookies.set("ps_session", cookie["value"])
        assert (await stolen.get("/ui/accounts")).status_code == 200
        await page.get_by_test_id("sign-out").click()
        await page.wait_for_url(f"{console.url}/ui/login")
        # The same cookie, replayed after sign-out: the server ended the session.
        again = await stolen.get("/ui/accounts")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/ui/login")
    await page.goto(f"{console.url}/ui/accounts")
    assert "/ui/login" in page.url
    signed_out = await console.api.get(
        "/v1/audit-events", params={"action": "console.signed_out", "limit": 5}
    )
    assert console.admin_actor in [e["actor"] for e in signed_out.json()["data"]]
    await page.context.close()
