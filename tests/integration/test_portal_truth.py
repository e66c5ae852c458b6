"""The preview tells the truth: for every charge model it shows what the real portal shows.

Each test opens a real portal session through the API, loads the sandbox's
portal page behind the returned URL, and compares it field by field with the
service's preview of the same account: business name, colours, icon,
headline, and the set of enabled features. The platform's own Stripe branding
differs from the service's platform defaults on purpose, so a preview that
showed the defaults where the portal shows the platform would fail.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx
import msgspec
import pytest
import stripe

from platform_service.applies import BRANDING, PORTAL
from platform_service.branding.events import on_platform_account_updated
from platform_service.branding.rules import BRANDING_FIELDS
from platform_service.portal.compile import compile_configuration
from platform_service.portal.document import LEAF_PATHS, PortalSettings
from platform_service.portal.models import AccountPortalSettings
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from tests.integration.test_branding import uploaded
from tests.integration.test_portal_sessions import ready_seller, session_url

# The platform as Stripe holds it (set in its Dashboard) and the service's defaults.
PLATFORM_ON_STRIPE = {
    "business_profile": {"name": "Northwind Marketplace"},
    "settings": {"branding": {"primary_color": "#1B2A4A", "secondary_color": "#F2F4F8"}},
}
SERVICE_DEFAULTS = {
    "display_name": "Marketplace Co",
    "button_color": "#0F766E",
    "background_color": "#E6FFFA",
    "border_style": "pill",
}


class _ByTestId(HTMLParser):
    """Elements carrying `data-testid`: their attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, Any]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for test_id in self._open:
            self.found[test_id]["text"] += " "  # `<li>a</li><li>b</li>` reads "a b"
        attributes = {k: v or "" for k, v in attrs}
        test_id = attributes.get("data-testid")
        if test_id is not None and test_id not in self.found:
            self.found[test_id] = {"attrs": attributes, "text": ""}
            if tag not in ("img", "input"):
                self._open.append(test_id)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag in ("h1", "p", "span", "ul", "header", "div", "strong"):
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for test_id in self._open:
            self.found[test_id]["text"] += data


def _parse(html: str) -> dict[str, dict[str, Any]]:
    parser = _ByTestId()
    parser.feed(html)
    return parser.found


def _words(text: str) -> str:
    return " ".join(text.split())


def portal_shows(html: str) -> dict[str, Any]:
    """What the sandbox's portal page shows (it renders Stripe's rule for each call)."""
    page = _parse(html)
    header = page["portal-branding"]["attrs"]
    return {
        "name": _words(page["portal-business-name"]["text"]),
        "headline": _words(page["portal-headline"]["text"]),
        "button_color": header["data-primary-color"] or None,
        "background_color": header["data-secondary-color"] or None,
        "icon": header["data-icon"] or None,
        "features": sorted(_words(page["portal-features"]["text"]).split()),
        "return_link": "portal-return" in page,
    }


def preview_shows(html: str) -> dict[str, Any]:
    page = _parse(html)
    portal = page["portal-preview"]["attrs"]
    return {
        "name": _words(page["portal-business-name"]["text"]),
        "headline": _words(page["portal-headline"]["text"]),
        "button_color": portal["data-button-color"] or None,
        "background_color": portal["data-background-color"] or None,
        "icon": portal["data-icon"] or None,
        "features": sorted(portal["data-features"].split()),
        "return_link": "portal-return" in page,
    }


@pytest.fixture
async def platform_differs(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> dict[str, Any]:
    """The platform's Stripe branding and the service's defaults, deliberately different."""
    sandbox_client.v1.accounts.update(sandbox.platform_account_id, PLATFORM_ON_STRIPE)  # type: ignore[arg-type]
    resp = await client.put("/v1/platform/branding", json=SERVICE_DEFAULTS, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    read = await client.post("/v1/platform/branding/refresh", headers=admin_headers)
    assert read.status_code == 200, read.text
    stripe_side = read.json()["stripe"]["branding"]
    assert stripe_side["display_name"] == "Northwind Marketplace"
    assert stripe_side["button_color"] == "#1B2A4A"
    return stripe_side


SETTINGS_VARIANTS: list[dict[str, Any]] = [
    {},  # the seed's defaults, no headline: Stripe's sentence with the shown name
    {
        "customisation": {"headline": "Manage your plan in one place"},
        "invoice_history": {"invoice_history": False},
        "customer_billing": {"payment_methods": False},
    },
    {
        "subscription_management": {
            "switch_plans": True,
            "products": "__catalogue__",
            "pause_subscriptions": True,
        },
        "cancellations": {"cancel_subscriptions": False, "cancellation_reason": False},
    },
]


@pytest.mark.parametrize("variant", range(len(SETTINGS_VARIANTS)))
@pytest.mark.parametrize(
    "charge_model",
    ["direct", "destination_on_behalf_of", "destination", "separate_charges_and_transfers"],
)
async def test_preview_and_real_session_agree_field_by_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    platform_differs: dict[str, Any],
    charge_model: str,
    variant: int,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, charge_model)
    icon = await uploaded(client, admin_headers, seller.id, "icon")
    resp = await client.patch(
        f"/v1/accounts/{seller.id}/branding",
        json={"display_name": "Seller Shop", "button_color": "#AA0000"},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    settings = dict(SETTINGS_VARIANTS[variant])
    if "subscription_management" in settings:
        settings["subscription_management"] = {
            **settings["subscription_management"],
            "products": [{"product": seller.product, "prices": seller.prices}],
        }
    if settings:
        resp = await client.patch(
            f"/v1/accounts/{seller.id}/portal-settings", json=settings, headers=admin_headers
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["sync"]["status"] == "in_sync", resp.text

    opened = await client.post(
        session_url(seller.id), json={"customer": seller.customer}, headers=admin_headers
    )
    assert opened.status_code == 201, opened.text
    async with httpx.AsyncClient(timeout=10) as browser:
        real = portal_shows((await browser.get(opened.json()["url"])).text)
    preview_page = await client.get(
        f"/accounts/{seller.id}/branding/preview", headers=admin_headers
    )
    assert preview_page.status_code == 200, preview_page.text
    preview = preview_shows(preview_page.text)

    assert preview == real
    # And it is the right truth: whose branding shows depends on the charge model.
    if charge_model in ("direct", "destination_on_behalf_of"):
        assert real["name"] == "Seller Shop"
        assert real["button_color"] == "#AA0000"
        assert real["background_color"] == SERVICE_DEFAULTS["background_color"]
        assert real["icon"] == icon
    else:
        assert real["name"] == platform_differs["display_name"]
        assert real["button_color"] == platform_differs["button_color"]
        assert real["icon"] == platform_differs.get("icon")
    if variant == 0:
        assert real["headline"] == f"{real['name']} partners with Stripe to simplify billing."


async def test_the_platforms_account_updated_event_rereads_its_branding(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    platform_differs: dict[str, Any],
) -> None:
    sandbox_client.v1.accounts.update(
        sandbox.platform_account_id,
        {"settings": {"branding": {"primary_color": "#123456"}}},
    )
    event = {
        "id": "evt_platform_branding",
        "type": "account.updated",
        "data": {"object": {"id": sandbox.platform_account_id, "object": "account"}},
    }
    ctx = runtime.job_context()
    async with runtime.session() as session, session.begin():
        await on_platform_account_updated(session, ctx, event)
    got = await client.get("/v1/platform/branding", headers=admin_headers)
    assert got.json()["stripe"]["branding"]["button_color"] == "#123456"
    # The defaults are untouched: they are what accounts inherit, not the platform's look.
    assert got.json()["branding"]["button_color"] == SERVICE_DEFAULTS["button_color"]
    # A connected account's event is not the platform's.
    sandbox_client.v1.accounts.update(
        sandbox.platform_account_id,
        {"settings": {"branding": {"primary_color": "#654321"}}},
    )
    async with runtime.session() as session, session.begin():
        await on_platform_account_updated(session, ctx, {**event, "account": "acct_other"})
    got = await client.get("/v1/platform/branding", headers=admin_headers)
    assert got.json()["stripe"]["branding"]["button_color"] == "#123456"


# -- every field says where it takes effect ------------------------------------------


def test_every_portal_leaf_and_branding_field_says_where_it_applies() -> None:
    assert set(PORTAL) == set(LEAF_PATHS)
    assert set(BRANDING) == set(BRANDING_FIELDS)


def _carried(params: dict[str, Any], path: str) -> bool:
    """Whether `params` carry `path`: `a.b` present, or `a.b[x]` a list holding x."""
    name, _, item = path.partition("[")
    node: Any = params
    for key in name.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return not item or item.rstrip("]") in node


def test_stripe_api_portal_fields_name_a_parameter_the_compiler_sends() -> None:
    """None is reported as applied unless a Stripe call carries it: the configuration
    params of a document with every option on hold each named parameter."""
    sent = compile_configuration(_all_on())
    checked = 0
    for path, effect in PORTAL.items():
        if effect.applies != "stripe_api" or not effect.stripe_field:
            continue
        obj, _, param = effect.stripe_field.partition(" ")
        if obj != "billing_portal.Configuration":
            continue  # an Account field, checked by the branding write tests
        assert _carried(sent, param), (path, param)
        checked += 1
    assert checked >= 20


def _all_on() -> PortalSettings:
    return msgspec.convert(
        {
            "subscription_management": {
                "switch_plans": True,
                "update_quantities": True,
                "prorate_changes": "charge_now",
                "downgrades": "schedule_at_period_end",
                "promotion_codes_on_update": True,
                "trial_update_behavior": "continue_trial",
                "billing_cycle_anchor": "now",
                "pause_subscriptions": True,
                "products": [{"product": "prod_1", "prices": ["price_1"]}],
            },
            "cancellations": {"cancellation_feedback_options": ["bfo_1"]},
            "customer_billing": {
                "allowed_fields": {"shipping": True, "tax_id": True},
                "payment_method_configuration": "pmc_1",
            },
            "customisation": {
                "configuration_name": "Sellers",
                "login_page": True,
                "headline": "Hello",
                "terms_of_service_url": "https://example.com/terms",
                "privacy_policy_url": "https://example.com/privacy",
                "default_return_url": "https://example.com/",
            },
        },
        PortalSettings,
    )


def test_dashboard_only_fields_are_never_sent_to_stripe() -> None:
    sent = str(compile_configuration(_all_on()))
    for path, effect in PORTAL.items():
        if effect.applies in ("stripe_dashboard", "sessions_opened_here"):
            assert path.rsplit(".", 1)[1] not in sent, path


# -- the business name is the one the portal shows ---------------------------------------


@pytest.mark.parametrize(
    ("charge_model", "source"),
    [("direct", "account_profile"), ("separate_charges_and_transfers", "platform_profile")],
)
async def test_the_documents_business_name_and_default_headline_are_the_shown_name(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    platform_differs: dict[str, Any],
    charge_model: str,
    source: str,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, charge_model)
    url = f"/v1/accounts/{seller.id}/portal-settings"
    body = (await client.get(url, headers=admin_headers)).json()
    shown = (
        platform_differs["display_name"]
        if source == "platform_profile"
        else (await client.get(f"/v1/accounts/{seller.id}", headers=admin_headers)).json()[
            "business_name"
        ]
    )
    assert body["settings"]["customisation"]["business_name"] == shown
    assert body["fields"]["customisation.business_name"]["source"] == source
    assert body["effective_headline"] == f"{shown} partners with Stripe to simplify billing."

    # Another name is refused, saying where the name is set; the same one is accepted
    # (a document read and sent back carries it) and never stored as an override.
    other = await client.patch(
        url, json={"customisation": {"business_name": "Not Shown Anywhere"}}, headers=admin_headers
    )
    assert other.status_code == 422, other.text
    error = other.json()["error"]
    assert (error["code"], error["param"]) == ("set_in_branding", "customisation.business_name")
    same = await client.patch(
        url, json={"customisation": {"business_name": shown}}, headers=admin_headers
    )
    assert same.status_code == 200, same.text
    assert "business_name" not in (same.json()["overrides"].get("customisation") or {})


async def test_a_business_name_stored_before_it_became_read_only_is_ignored_and_dropped(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "direct")
    async with runtime.session() as session, session.begin():
        row = await session.get(AccountPortalSettings, seller.id)
        assert row is not None
        row.overrides = {**row.overrides, "customisation": {"business_name": "Legacy Name"}}
    url = f"/v1/accounts/{seller.id}/portal-settings"
    body = (await client.get(url, headers=admin_headers)).json()
    assert body["settings"]["customisation"]["business_name"] != "Legacy Name"
    saved = await client.patch(
        url, json={"customisation": {"headline": "Hello there"}}, headers=admin_headers
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["overrides"]["customisation"] == {"headline": "Hello there"}


async def test_the_platforms_own_account_updated_is_not_imported_as_a_seller(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
) -> None:
    from platform_service.accounts.events import on_account_updated

    event = {
        "id": "evt_platform_itself",
        "type": "account.updated",
        "account": None,
        "data": {"object": {"id": sandbox.platform_account_id, "object": "account"}},
    }
    async with runtime.session() as session, session.begin():
        await on_account_updated(session, runtime.job_context(), event)
    resp = await client.get(f"/v1/accounts/{sandbox.platform_account_id}", headers=admin_headers)
    assert resp.status_code == 404
