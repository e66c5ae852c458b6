"""The portal settings form in Debian's chromium, in English and in French: edit settings
with a product from the sandbox catalogue and watch the headline counter, a dependency
refused beside its field with nothing saved, reset a field to the platform's value,
restore a version, the platform's defaults page, a seller's own form (editable or
read-only) and another seller's 404. Results are checked through the JSON API; every page
goes through axe-core, both screenshot widths and the French check (`console_pages.Walk`).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import stripe
from playwright.async_api import Page

from platform_service.sandbox.server import SandboxServer
from platform_service.settings import Settings
from tests.e2e import test_console_journeys as journeys
from tests.e2e.console_pages import Walk
from tests.e2e.test_console_journeys import Console, serve_console, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
async def console(
    settings: Settings, migrated: str, sandbox: SandboxServer
) -> AsyncIterator[Console]:
    async with serve_console(settings, sandbox) as served:
        yield served


@pytest.fixture(scope="module")
async def locked_console(
    settings: Settings, migrated: str, sandbox: SandboxServer
) -> AsyncIterator[Console]:
    """A service whose platform does not let sellers edit their portal settings."""
    own = msgspec.structs.replace(settings, sellers_edit_portal=False)
    async with serve_console(own, sandbox) as served:
        yield served


browser = journeys.browser
walk = journeys.walk


def catalogue(client: stripe.StripeClient, account: str, name: str) -> tuple[str, list[str], str]:
    """A product with two monthly prices, and a coupon, on the connected account (direct
    charges: its portal configuration lives there)."""
    options: Any = {"stripe_account": account}
    coupon = client.v1.coupons.create({"percent_off": 20, "duration": "once"}, options)
    product = client.v1.products.create({"name": name}, options)
    prices = [
        client.v1.prices.create(
            {
                "product": product.id,
                "currency": "eur",
                "unit_amount": amount,
                "recurring": {"interval": "month"},
            },
            options,
        ).id
        for amount in (900, 1900)
    ]
    return product.id, prices, coupon.id


async def portal_api(console: Console, account_id: str) -> dict[str, Any]:
    resp = await console.api.get(f"/v1/accounts/{account_id}/portal-settings")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def submit(page: Page, testid: str, url_part: str) -> int:
    """Click a form button; the status of the answer to its POST."""
    async with page.expect_response(
        lambda r: r.request.method == "POST" and url_part in r.url
    ) as answered:
        await page.get_by_test_id(testid).click()
    await page.wait_for_load_state()
    return (await answered.value).status


async def test_edit_reset_and_restore_an_accounts_portal_settings(
    console: Console, walk: Walk, sandbox_client: stripe.StripeClient
) -> None:
    account_id = await console.new_account(f"Portail {walk.language}")
    product, prices, coupon = catalogue(
        sandbox_client, account_id, f"Abonnement Or {walk.language}"
    )
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.goto(f"{console.url}/ui/accounts/{account_id}")
    await page.get_by_test_id("portal-settings-link").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{account_id}/portal")
    await walk.check(page, "portal")
    # The seed's sections, in the seed's order.
    sections = await page.locator("section[data-testid^=section-]").evaluate_all(
        "els => els.map(e => e.dataset.testid)"
    )
    assert sections == [
        "section-subscription_management",
        "section-cancellations",
        "section-customer_billing",
        "section-customisation",
        "section-invoice_history",
    ]
    marker = page.get_by_test_id("marker-customisation.headline")
    assert await marker.get_attribute("data-marker") == "inherited"
    applies = page.get_by_test_id("applies-cancellations.retention_coupon")
    assert await applies.inner_text() == walk.t(
        "Only in sessions this service opens",
        "Uniquement dans les sessions ouvertes par ce service",
    )

    # Plan switching with a product from the account's catalogue; the headline counter.
    await page.get_by_label(walk.t("Switch plans", "Changer de plan"), exact=True).check()
    await page.locator(f"input[name='price:{product}'][value='{prices[1]}']").check()
    await page.get_by_label(walk.t("Update quantities", "Modifier les quantités")).check()
    await page.locator(f"input[name='max:{product}']").fill("5")
    # The retention coupon, picked from the account's coupons.
    await page.get_by_label(walk.t("Retention coupons", "Bons de fidélité"), exact=True).check()
    await page.get_by_label(
        walk.t("Retention coupon", "Bon de fidélité proposé"), exact=True
    ).select_option(coupon)
    headline = page.get_by_label(walk.t("Headline", "Titre"), exact=True)
    assert (await headline.get_attribute("placeholder") or "").startswith(
        f"Portail {walk.language}"
    )
    counter = page.get_by_test_id("headline-counter")
    await headline.fill("x" * 61)
    assert await counter.inner_text() == walk.t(
        "61 of 60 characters: too long", "61 caractères sur 60 : trop long"
    )
    assert "over" in (await counter.get_attribute("class") or "")
    text = f"Bienvenue {walk.language}"
    await headline.fill(text)
    assert await counter.inner_text() == walk.t(
        f"{len(text)} of 60 characters", f"{len(text)} caractères sur 60"
    )
    assert await submit(page, "save", "/portal") == 303
    await page.wait_for_url("**/portal?notice=saved")
    await walk.check(page, "portal-saved")
    body = await portal_api(console, account_id)
    sm = body["settings"]["subscription_management"]
    assert sm["switch_plans"] is True
    assert [(p["product"], p["prices"]) for p in sm["products"]] == [(product, [prices[1]])]
    assert sm["update_quantities"] is True
    assert sm["products"][0]["adjustable_quantity"]["maximum"] == 5
    assert body["settings"]["cancellations"]["retention_coupon_id"] == coupon
    assert body["settings"]["customisation"]["headline"] == text
    assert body["fields"]["customisation.headline"]["source"] == "account"
    # What nobody touched is still inherited.
    assert body["fields"]["cancellations.cancel_mode"]["inherited"] is True
    assert set(body["overrides"]) == {"subscription_management", "cancellations", "customisation"}
    saved_version = body["version"]
    assert await page.get_by_test_id("sync-status").get_attribute("data-status") in (
        "in_sync",
        "pending",
    )

    # A dependency the API refuses: proration without plan switching or quantities.
    await page.get_by_label(walk.t("Switch plans", "Changer de plan"), exact=True).uncheck()
    await page.get_by_label(walk.t("Update quantities", "Modifier les quantités")).uncheck()
    await page.get_by_label(
        walk.t("Prorate subscription changes", "Facturer les abonnements modifiés au prorata")
    ).select_option("charge_now")
    assert await submit(page, "save", "/portal") == 422
    error = page.get_by_test_id("error-subscription_management.prorate_changes")
    assert await error.is_visible()
    assert await error.get_attribute("data-code") == "requires_subscription_updates"
    field = page.get_by_test_id("field-subscription_management.prorate_changes")
    assert await field.locator("[data-testid^=error-]").count() == 1  # beside its field
    await walk.check(page, "portal-invalid")
    after = await portal_api(console, account_id)
    assert after["version"] == saved_version
    assert after["settings"]["subscription_management"]["switch_plans"] is True
    assert after["settings"]["subscription_management"]["prorate_changes"] == "off"

    # Reset the headline: it inherits the platform's value again.
    await page.goto(f"{console.url}/ui/accounts/{account_id}/portal")
    assert await submit(page, "reset-customisation.headline", "/portal/reset") == 303
    await page.wait_for_url("**/portal?notice=reset")
    reset = await portal_api(console, account_id)
    assert reset["fields"]["customisation.headline"]["inherited"] is True
    assert "headline" not in reset["overrides"].get("customisation", {})
    assert reset["settings"]["customisation"]["headline"] is None
    marker = page.get_by_test_id("marker-customisation.headline")
    assert await marker.get_attribute("data-marker") == "inherited"

    # The version history shows each version's diff; restoring one saves it anew.
    diff = page.get_by_test_id(f"diff-{saved_version}")
    await diff.locator("summary").click()
    assert "customisation.headline" in await diff.inner_text()
    await walk.check(page, "portal-versions")
    assert await submit(page, f"restore-{saved_version}", "/restore") == 303
    await page.wait_for_url("**/portal?notice=restored")
    restored = await portal_api(console, account_id)
    assert restored["version"] == reset["version"] + 1
    assert restored["settings"]["customisation"]["headline"] == text
    assert restored["overrides"] == body["overrides"]
    versions = (
        await console.api.get(f"/v1/accounts/{account_id}/portal-settings/versions")
    ).json()["data"]
    assert versions[0]["version"] == restored["version"]
    await walk.check(page, "portal-restored")
    await page.context.close()


async def test_the_platform_defaults_form(console: Console, walk: Walk) -> None:
    before = (await console.api.get("/v1/platform/portal-settings")).json()
    page = await sign_in(walk, console, console.admin_key, check=False)
    await page.get_by_role(
        "link", name=walk.t("Platform portal", "Portail de la plateforme")
    ).click()
    await page.wait_for_url(f"{console.url}/ui/platform/portal")
    await walk.check(page, "platform-portal")
    # Account-only options have no input here.
    assert await page.locator("input[name='customisation.custom_domain']").count() == 0

    # Saved as it stands: nothing changes (and no account is re-synced).
    assert await submit(page, "save", "/platform/portal") == 303
    await page.wait_for_url("**/platform/portal?notice=saved")
    assert (await console.api.get("/v1/platform/portal-settings")).json()["settings"] == before[
        "settings"
    ]

    # Switching plans needs a product with a price: the error sits by the picker.
    await page.get_by_label(walk.t("Switch plans", "Changer de plan"), exact=True).check()
    assert await submit(page, "save", "/platform/portal") == 422
    error = page.get_by_test_id("error-subscription_management.products")
    assert await error.get_attribute("data-code") == "products_required"
    await walk.check(page, "platform-portal-no-product")

    # A dependency the API refuses, shown beside its field; nothing saved.
    await page.goto(f"{console.url}/ui/platform/portal")
    await page.get_by_label(
        walk.t("Cancel subscriptions", "Annuler l'abonnement"), exact=True
    ).uncheck()
    assert await submit(page, "save", "/platform/portal") == 422
    error = page.get_by_test_id("error-cancellations.cancellation_reason")
    assert await error.get_attribute("data-code") == "requires_cancel"
    await walk.check(page, "platform-portal-invalid")
    after = (await console.api.get("/v1/platform/portal-settings")).json()
    assert (after["settings"], after["effective"]) == (before["settings"], before["effective"])
    await page.context.close()


async def test_a_seller_edits_their_own_portal_settings_and_gets_404_for_anothers(
    console: Console, walk: Walk
) -> None:
    own = await console.new_account(f"Vendeur {walk.language}")
    other = await console.new_account(f"Autre {walk.language}")
    page = await sign_in(walk, console, await console.key("seller", own), check=False)
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}")
    await page.get_by_test_id("portal-settings-link").click()
    await page.wait_for_url(f"{console.url}/ui/accounts/{own}/portal")
    await walk.check(page, "seller-portal")
    name = f"config {secrets.token_hex(3)}"
    await page.get_by_label(walk.t("Configuration name", "Nom de la configuration")).fill(name)
    await page.get_by_label(
        walk.t("Show invoice history", "Historique des factures visible")
    ).uncheck()
    assert await submit(page, "save", "/portal") == 303
    await page.wait_for_url("**/portal?notice=saved")
    body = await portal_api(console, own)
    assert body["settings"]["customisation"]["configuration_name"] == name
    assert body["settings"]["invoice_history"]["invoice_history"] is False
    audit = (await console.api.get("/v1/audit-events", params={"account_id": own})).json()["data"]
    assert any(
        e["action"] == "portal_settings.updated" and e["actor"].startswith("seller") for e in audit
    )

    answer = await page.goto(f"{console.url}/ui/accounts/{other}/portal")
    assert answer is not None and answer.status == 404
    assert await page.get_by_test_id("error-code").inner_text() == "resource_missing"
    answer = await page.goto(f"{console.url}/ui/platform/portal")
    assert answer is not None and answer.status == 404
    await page.context.close()


async def test_a_seller_reads_their_portal_settings_when_the_platform_keeps_them(
    locked_console: Console, walk: Walk
) -> None:
    own = await locked_console.new_account(f"Lecture {walk.language}")
    page = await sign_in(walk, locked_console, await locked_console.key("seller", own), check=False)
    await page.goto(f"{locked_console.url}/ui/accounts/{own}/portal")
    assert await page.get_by_test_id("read-only").is_visible()
    assert await page.get_by_test_id("save").count() == 0
    assert await page.locator("button[data-testid^=restore-]").count() == 0
    assert await page.get_by_label(walk.t("Headline", "Titre"), exact=True).is_disabled()
    await walk.check(page, "seller-portal-read-only")
    await page.context.close()
