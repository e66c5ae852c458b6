"""Portal sessions through the HTTP API: call shape per charge model, flows, no open redirect."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
import stripe
from sqlalchemy import delete, update

from platform_service.portal.models import AccountPortalSettings, PortalSettingsVersion
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from tests.fixtures.app import KeyMaker, seller_headers
from tests.integration.test_accounts import create, drive, sandbox_requests
from tests.integration.test_portal_settings import (
    catalogue,
    log_position,
    opts,
    settings_url,
    wait_synced,
)

RETURN_URL = "https://shop.example.com/account"
SESSIONS = "/v1/billing_portal/sessions"


@dataclass
class Seller:
    id: str
    charge_model: str
    customer: str
    subscription: str
    item: str
    product: str
    prices: list[str]
    coupon: str
    configuration_id: str


def session_url(account_id: str) -> str:
    return f"/v1/accounts/{account_id}/portal-sessions"


async def ready_seller(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    sandbox: SandboxServer,
    stripe_client: stripe.StripeClient,
    charge_model: str = "direct",
    settings: dict[str, Any] | None = None,
) -> Seller:
    """An onboarded account with a customer and a subscription where its charge model puts them."""
    account = await create(client, headers, charge_model=charge_model)
    drive(sandbox, account["id"], "complete")
    resp = await client.post(f"/v1/accounts/{account['id']}/sync", headers=headers)
    assert resp.json()["charges_enabled"] is True, resp.text
    await wait_synced(client, headers, account["id"])
    home = account["id"] if charge_model == "direct" else None
    product, prices, coupon = catalogue(stripe_client, home)
    # Where the charge model puts them, and marked as this seller's the way Stripe shows
    # it: on_behalf_of, a transfer destination, or (separate charges: no link on the
    # subscription) the platform's tag on the customer.
    tag = {"metadata": {"platform_account_id": account["id"]}}
    customer = stripe_client.v1.customers.create(
        {
            "email": "c@example.com",
            **(tag if charge_model == "separate_charges_and_transfers" else {}),
        },
        opts(home),
    )
    sub_params: dict[str, Any] = {"customer": customer.id, "items": [{"price": prices[0]}]}
    if charge_model == "destination_on_behalf_of":
        sub_params["on_behalf_of"] = account["id"]
    if charge_model == "destination":
        sub_params["transfer_data"] = {"destination": account["id"]}
    sub = stripe_client.v1.subscriptions.create(sub_params, opts(home)).to_dict(recursive=True)
    body = {"customisation": {"default_return_url": RETURN_URL}, **(settings or {})}
    resp = await client.patch(settings_url(account["id"]), json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return Seller(
        id=account["id"],
        charge_model=charge_model,
        customer=customer.id,
        subscription=sub["id"],
        item=sub["items"]["data"][0]["id"],
        product=product,
        prices=prices,
        coupon=coupon,
        configuration_id=resp.json()["sync"]["configuration_id"],
    )


def last_session_request(sandbox: SandboxServer, since: int) -> dict[str, Any]:
    made = [
        r
        for r in sandbox_requests(sandbox, since)
        if r["method"] == "POST" and r["path"] == SESSIONS
    ]
    assert made, "no session request reached the sandbox"
    return made[-1]


@pytest.mark.parametrize(
    ("charge_model", "header", "on_behalf_of", "source"),
    [
        ("direct", True, False, "connected_account"),
        ("destination_on_behalf_of", False, True, "connected_account"),
        ("destination", False, False, "platform"),
        ("separate_charges_and_transfers", False, False, "platform"),
    ],
)
async def test_each_charge_model_gets_its_call_shape(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    charge_model: str,
    header: bool,
    on_behalf_of: bool,
    source: str,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, charge_model)
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id), json={"customer": seller.customer}, headers=admin_headers
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["url"].startswith(sandbox.url)
    assert body["branding_source"] == source
    assert body["configuration_id"] == seller.configuration_id
    sent = last_session_request(sandbox, since)
    assert sent["status"] == 200
    assert sent["stripe_account"] == (seller.id if header else None)
    assert sent["params"].get("on_behalf_of") == (seller.id if on_behalf_of else None)
    assert sent["params"]["configuration"] == seller.configuration_id
    assert sent["idempotency_key"].startswith("portal.session.create")


async def test_each_session_request_gets_its_own_key(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    since = log_position(sandbox)
    urls = set()
    for _ in range(2):
        resp = await client.post(
            session_url(seller.id), json={"customer": seller.customer}, headers=admin_headers
        )
        urls.add(resp.json()["url"])
    keys = {
        r["idempotency_key"]
        for r in sandbox_requests(sandbox, since)
        if r["method"] == "POST" and r["path"] == SESSIONS
    }
    assert len(keys) == 2 and len(urls) == 2


async def test_each_flow_type(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "direct")
    # Plan switching on, so the update flows have something to offer.
    await client.patch(
        settings_url(seller.id),
        json={
            "subscription_management": {
                "switch_plans": True,
                "products": [{"product": seller.product, "prices": seller.prices}],
            }
        },
        headers=admin_headers,
    )
    flows: list[dict[str, Any]] = [
        {"type": "payment_method_update"},
        {"type": "customer_update", "after_completion": {"type": "portal_homepage"}},
        {"type": "subscription_cancel", "subscription": seller.subscription},
        {
            "type": "subscription_update",
            "subscription": seller.subscription,
            "after_completion": {"type": "hosted_confirmation", "custom_message": "Done!"},
        },
        {
            "type": "subscription_update_confirm",
            "subscription": seller.subscription,
            "items": [{"id": seller.item, "price": seller.prices[1]}],
            "after_completion": {"type": "redirect", "return_url": f"{RETURN_URL}/done"},
        },
    ]
    for flow in flows:
        since = log_position(sandbox)
        resp = await client.post(
            session_url(seller.id),
            json={"customer": seller.customer, "flow": flow, "locale": "fr"},
            headers=admin_headers,
        )
        assert resp.status_code == 201, (flow, resp.text)
        body = resp.json()
        assert body["flow"]["type"] == flow["type"]
        sent = last_session_request(sandbox, since)["params"]
        assert sent["flow_data"]["type"] == flow["type"]
        assert sent["locale"] == "fr"
        if "subscription" in flow:
            assert sent["flow_data"][flow["type"]]["subscription"] == seller.subscription
        after = flow.get("after_completion")
        if after is not None:
            assert body["flow"]["after_completion"]["type"] == after["type"]
    assert body["flow"]["after_completion"]["redirect"]["return_url"] == f"{RETURN_URL}/done"
    # Pausing is off by default (as at Stripe): refused before reaching Stripe.
    pause = {"type": "subscription_pause", "subscription": seller.subscription}
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id),
        json={"customer": seller.customer, "flow": pause},
        headers=admin_headers,
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["param"] == "flow.type"
    assert "pause_subscriptions is off" in resp.json()["error"]["message"]
    assert not [r for r in sandbox_requests(sandbox, since) if r["path"] == SESSIONS]
    # Offered once the settings turn it on.
    resp = await client.patch(
        settings_url(seller.id),
        json={"subscription_management": {"pause_subscriptions": True}},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id),
        json={"customer": seller.customer, "flow": pause},
        headers=admin_headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["flow"]["subscription_pause"] == {"subscription": seller.subscription}
    sent = last_session_request(sandbox, since)["params"]
    assert sent["flow_data"] == {
        "type": "subscription_pause",
        "subscription_pause": {"subscription": seller.subscription},
    }
    # A flow's own fields are checked like any input.
    resp = await client.post(
        session_url(seller.id),
        json={"customer": seller.customer, "flow": {"type": "subscription_cancel"}},
        headers=admin_headers,
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["param"] == "flow.subscription"


async def test_cancel_flows_carry_the_retention_coupon_while_it_is_on(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "direct")
    resp = await client.patch(
        settings_url(seller.id),
        json={"cancellations": {"retention_coupon": True, "retention_coupon_id": seller.coupon}},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    cancel = {"type": "subscription_cancel", "subscription": seller.subscription}
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id),
        json={"customer": seller.customer, "flow": cancel},
        headers=admin_headers,
    )
    assert resp.status_code == 201, resp.text
    offer = {"type": "coupon_offer", "coupon_offer": {"coupon": seller.coupon}}
    assert resp.json()["flow"]["subscription_cancel"]["retention"] == offer
    sent = last_session_request(sandbox, since)["params"]
    assert sent["flow_data"]["subscription_cancel"]["retention"] == offer
    # Other flows never carry it.
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id),
        json={"customer": seller.customer, "flow": {"type": "payment_method_update"}},
        headers=admin_headers,
    )
    assert "subscription_cancel" not in last_session_request(sandbox, since)["params"]["flow_data"]
    # Switched off: cancel flows go without it.
    await client.patch(
        settings_url(seller.id),
        json={"cancellations": {"retention_coupon": False}},
        headers=admin_headers,
    )
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id),
        json={"customer": seller.customer, "flow": cancel},
        headers=admin_headers,
    )
    assert resp.status_code == 201, resp.text
    sent = last_session_request(sandbox, since)["params"]
    assert "retention" not in sent["flow_data"]["subscription_cancel"]


async def test_return_urls_must_be_on_an_allowed_host(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    runtime: Runtime,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    url = session_url(seller.id)
    ok = await client.post(
        url, json={"customer": seller.customer, "return_url": f"{RETURN_URL}?x=1"},
        headers=admin_headers,
    )  # fmt: skip
    assert ok.status_code == 201, ok.text
    for body, param in [
        ({"return_url": "https://evil.example.net/phish"}, "return_url"),
        ({"return_url": "https://shop.example.com.evil.example.net/"}, "return_url"),
        ({"return_url": "http://shop.example.com/account"}, "return_url"),
        ({"return_url": "https://shop.example.com@evil.example.net/"}, "return_url"),
        (
            {"flow": {"type": "payment_method_update",
                      "after_completion": {"type": "redirect",
                                           "return_url": "https://evil.example.net/"}}},
            "flow.after_completion.return_url",
        ),
    ]:  # fmt: skip
        resp = await client.post(
            url, json={"customer": seller.customer, **body}, headers=admin_headers
        )
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["param"] == param
    # The configurable allow-list adds hosts.
    original = runtime.settings
    runtime.settings = msgspec.structs.replace(
        original, allowed_return_hosts=("app.partner.example.org",)
    )
    try:
        resp = await client.post(
            url,
            json={"customer": seller.customer, "return_url": "https://app.partner.example.org/x"},
            headers=admin_headers,
        )
        assert resp.status_code == 201, resp.text
    finally:
        runtime.settings = original


async def test_an_account_that_cannot_serve_a_portal_is_409_saying_why(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    runtime: Runtime,
) -> None:
    fresh = await create(client, admin_headers, charge_model="destination")
    resp = await client.post(
        session_url(fresh["id"]),
        json={"customer": "cus_x", "return_url": RETURN_URL},
        headers=admin_headers,
    )
    assert resp.status_code == 409, resp.text
    error = resp.json()["error"]
    assert error["code"] == "portal_unavailable"
    assert "onboarding is not complete" in error["message"]
    assert "charges are not enabled" in error["message"]

    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    async with runtime.session() as session, session.begin():
        await session.execute(
            update(AccountPortalSettings)
            .where(AccountPortalSettings.account_id == seller.id)
            .values(sync_status="out_of_sync", sync_error="Stripe (upstream_unavailable): down")
        )
    resp = await client.post(
        session_url(seller.id), json={"customer": seller.customer}, headers=admin_headers
    )
    assert resp.status_code == 409
    assert "out of sync" in resp.json()["error"]["message"]


async def test_a_missing_configuration_is_made_before_the_session(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    runtime: Runtime,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "direct")
    # As if the creation-time job had not run yet.
    async with runtime.session() as session, session.begin():
        await session.execute(
            delete(AccountPortalSettings).where(AccountPortalSettings.account_id == seller.id)
        )
        await session.execute(
            delete(PortalSettingsVersion).where(PortalSettingsVersion.account_id == seller.id)
        )
    original = runtime.settings
    runtime.settings = msgspec.structs.replace(original, allowed_return_hosts=("shop.example.com",))
    try:
        resp = await client.post(
            session_url(seller.id),
            json={"customer": seller.customer, "return_url": RETURN_URL},
            headers=admin_headers,
        )
    finally:
        runtime.settings = original
    assert resp.status_code == 201, resp.text
    settings = (await client.get(settings_url(seller.id), headers=admin_headers)).json()
    assert settings["sync"]["configuration_id"] == resp.json()["configuration_id"]
    assert settings["sync"]["status"] == "in_sync"


async def test_redirect_and_audit_without_the_url(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    resp = await client.post(
        session_url(seller.id),
        params={"redirect": "true"},
        json={"customer": seller.customer, "flow": {"type": "customer_update"}},
        headers=admin_headers,
    )
    assert resp.status_code == 303, resp.text
    location = resp.headers["location"]
    assert location.startswith(f"{sandbox.url}/_sandbox/pages/portal/")
    events = await client.get(
        "/v1/audit-events",
        params={"account_id": seller.id, "action": "portal_session.created"},
        headers=admin_headers,
    )
    assert events.status_code == 200, events.text
    recorded = events.json()["data"][0]
    assert recorded["actor"].startswith("admin:")
    assert recorded["after"]["customer"] == seller.customer
    assert recorded["after"]["flow"] == "customer_update"
    assert location not in events.text
    assert "/_sandbox/pages/portal/" not in events.text


async def test_sellers_open_sessions_only_for_their_own_account(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    make_key: KeyMaker,
) -> None:
    mine = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    theirs = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    headers = await seller_headers(make_key, mine.id)
    resp = await client.post(
        session_url(mine.id), json={"customer": mine.customer}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    resp = await client.post(
        session_url(theirs.id), json={"customer": theirs.customer}, headers=headers
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize(
    "charge_model", ["destination_on_behalf_of", "destination", "separate_charges_and_transfers"]
)
async def test_a_seller_opens_sessions_only_for_platform_customers_that_are_theirs(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    make_key: KeyMaker,
    charge_model: str,
) -> None:
    """Platform customers are shared by every seller: a seller key gets a session only for
    a customer linked to it (on_behalf_of, transfer destination, or the platform's tag)."""
    mine = await ready_seller(client, admin_headers, sandbox, sandbox_client, charge_model)
    other = await ready_seller(client, admin_headers, sandbox, sandbox_client, charge_model)
    stranger = sandbox_client.v1.customers.create({"email": "stranger@example.com"})
    headers = await seller_headers(make_key, mine.id)
    url = session_url(mine.id)
    ok = await client.post(url, json={"customer": mine.customer}, headers=headers)
    assert ok.status_code == 201, ok.text
    since = log_position(sandbox)
    for customer in (other.customer, stranger.id, "cus_doesnotexist"):
        resp = await client.post(url, json={"customer": customer}, headers=headers)
        assert resp.status_code == 404, (customer, resp.text)
        assert resp.json()["error"]["param"] == "customer"
    # A customer Account (Accounts v2) is checked the same way: one nobody tagged is not theirs.
    resp = await client.post(
        url, json={"customer_account": "acct_1Nv0FGQ9RKHgCVdK"}, headers=headers
    )
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["param"] == "customer_account"
    assert not [r for r in sandbox_requests(sandbox, since) if r["path"] == SESSIONS]
    # The platform's own backend (an admin key) is trusted with any platform customer.
    admin = await client.post(url, json={"customer": stranger.id}, headers=admin_headers)
    assert admin.status_code == 201, admin.text


async def test_after_expiration_recovery_is_passed_to_stripe(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "direct")
    url = session_url(seller.id)
    deadline = int(time.time()) + 3600
    for after, sent_after in [
        ({"type": "customer_login"}, {"type": "customer_login"}),
        (
            {"type": "customer_login", "customer_login": {"expires_at": deadline}},
            {"type": "customer_login", "customer_login": {"expires_at": str(deadline)}},
        ),
    ]:
        since = log_position(sandbox)
        resp = await client.post(
            url, json={"customer": seller.customer, "after_expiration": after},
            headers=admin_headers,
        )  # fmt: skip
        assert resp.status_code == 201, resp.text
        assert last_session_request(sandbox, since)["params"]["after_expiration"] == sent_after
    for after, param in [
        ({"type": "customer_login", "customer_login": {"expires_at": int(time.time()) - 60}},
         "after_expiration.customer_login.expires_at"),
        ({"type": "magic_link"}, "after_expiration.type"),
        ({"type": "customer_login", "customer_login": {"expires_at": 0}},
         "after_expiration.customer_login.expires_at"),
    ]:  # fmt: skip
        resp = await client.post(
            url, json={"customer": seller.customer, "after_expiration": after},
            headers=admin_headers,
        )  # fmt: skip
        assert resp.status_code == 422, (after, resp.text)
        assert resp.json()["error"]["param"] == param


async def test_the_customer_is_a_customer_or_an_account_exactly_one(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    url = session_url(seller.id)
    since = log_position(sandbox)
    for body, param, code in [
        ({}, "customer", "parameter_missing"),
        ({"customer": seller.customer, "customer_account": "acct_1Nv0FGQ9RKHgCVdK"},
         "customer_account", "parameter_invalid"),
        ({"customer_account": seller.customer}, "customer_account", "parameter_invalid"),
    ]:  # fmt: skip
        resp = await client.post(url, json=body, headers=admin_headers)
        assert resp.status_code == 422, (body, resp.text)
        error = resp.json()["error"]
        assert (error["param"], error["code"]) == (param, code), error
        assert "customer" in error["message"]
    assert not [r for r in sandbox_requests(sandbox, since) if r["path"] == SESSIONS]


async def test_a_customer_account_is_sent_instead_of_a_customer(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(client, admin_headers, sandbox, sandbox_client, "destination")
    # An Accounts v2 customer: an Account with the customer configuration, on the platform.
    customer = sandbox_client.v2.core.accounts.create(
        {"contact_email": "c@example.com", "configuration": {"customer": {}}}
    )
    since = log_position(sandbox)
    resp = await client.post(
        session_url(seller.id), json={"customer_account": customer.id}, headers=admin_headers
    )
    assert resp.status_code == 201, resp.text
    sent = last_session_request(sandbox, since)["params"]
    assert sent["customer_account"] == customer.id
    assert "customer" not in sent


async def test_without_any_return_url_the_session_is_sent_without_one(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(
        client, admin_headers, sandbox, sandbox_client, "destination",
        settings={"customisation": {"default_return_url": None}},
    )  # fmt: skip
    since = log_position(sandbox)
    await client.post(
        session_url(seller.id), json={"customer": seller.customer}, headers=admin_headers
    )
    # Not refused by the service (Stripe's portal then hides its "Return to" link);
    # whether the sandbox opens it is the next test's.
    sent = last_session_request(sandbox, since)["params"]
    assert "return_url" not in sent


async def test_stripe_opens_a_session_without_any_return_url(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    seller = await ready_seller(
        client, admin_headers, sandbox, sandbox_client, "destination",
        settings={"customisation": {"default_return_url": None}},
    )  # fmt: skip
    resp = await client.post(
        session_url(seller.id), json={"customer": seller.customer}, headers=admin_headers
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["url"]
