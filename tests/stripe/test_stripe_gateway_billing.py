"""Customers, catalogue reads, the customer portal and events through the gateway."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import PortalConfigurationCreateParams, StripeGateway
from tests.stripe.support import SandboxAdmin, key

PORTAL_CONFIG: PortalConfigurationCreateParams = {
    "features": {
        "invoice_history": {"enabled": True},
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
    },
    "business_profile": {"headline": "Acme partners with Stripe to simplify billing."},
    "default_return_url": "https://platform.example/account",
    "metadata": {"platform_account": "acct_x"},
}


@pytest.fixture
def catalogue(sandbox_client: stripe.StripeClient, account: dict[str, Any]) -> dict[str, Any]:
    """A product with two prices, a coupon and a promotion code on the connected account."""
    opts: Any = {"stripe_account": account["id"]}
    product = sandbox_client.v1.products.create({"name": "Pro plan"}, opts)
    prices = [
        sandbox_client.v1.prices.create(
            {"product": product.id, "currency": "usd", "unit_amount": amount,
             "recurring": {"interval": "month"}},
            opts,
        )
        for amount in (1000, 2000)
    ]  # fmt: skip
    coupon = sandbox_client.v1.coupons.create({"percent_off": 20, "duration": "once"}, opts)
    promo = sandbox_client.v1.promotion_codes.create(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": key("P")[-10:].upper()},
        opts,
    )
    return {"account": account["id"], "product": product.id,
            "prices": [p.id for p in prices], "coupon": coupon.id, "promo": promo.id}  # fmt: skip


async def test_customer_lives_on_the_account_it_was_created_as(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    mark = admin.mark()
    customer = await gateway.create_customer(
        {"email": "buyer@example.com"}, stripe_account=account["id"], idempotency_key=key("cus")
    )
    assert customer["id"].startswith("cus_")
    fetched = await gateway.retrieve_customer(customer["id"], stripe_account=account["id"])
    assert fetched["email"] == "buyer@example.com"
    with pytest.raises(StripeGatewayError) as info:
        await gateway.retrieve_customer(customer["id"], stripe_account=None)
    assert info.value.kind is StripeErrorKind.RESOURCE_MISSING
    assert info.value.stripe_account is None
    sent = admin.requests_since(mark)
    assert [e["stripe_account"] for e in sent] == [account["id"], account["id"], None]


async def test_catalogue_reads_on_a_connected_account(
    gateway: StripeGateway, catalogue: dict[str, Any], admin: SandboxAdmin
):
    acct = catalogue["account"]
    mark = admin.mark()
    product = await gateway.retrieve_product(catalogue["product"], stripe_account=acct)
    assert product["name"] == "Pro plan"
    price = await gateway.retrieve_price(catalogue["prices"][0], stripe_account=acct)
    assert price["unit_amount"] == 1000
    assert type(price["recurring"]) is dict
    listed = await gateway.list_prices(product=catalogue["product"], stripe_account=acct)
    assert {p["id"] for p in listed} == set(catalogue["prices"])
    coupon = await gateway.retrieve_coupon(catalogue["coupon"], stripe_account=acct)
    assert coupon["percent_off"] == 20
    promo = await gateway.retrieve_promotion_code(catalogue["promo"], stripe_account=acct)
    assert promo["id"] == catalogue["promo"]
    sent = admin.requests_since(mark)
    assert len(sent) == 5
    assert all(e["stripe_account"] == acct for e in sent)
    assert sent[2]["params"]["product"] == catalogue["product"]


async def test_list_prices_filters_on_active(
    gateway: StripeGateway, catalogue: dict[str, Any], admin: SandboxAdmin
):
    mark = admin.mark()
    await gateway.list_prices(
        product=catalogue["product"], stripe_account=catalogue["account"], active=True
    )
    [sent] = admin.requests_since(mark, "/v1/prices")
    assert sent["params"]["active"] == "true"


async def test_portal_configuration_lifecycle_on_a_connected_account(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    acct = account["id"]
    mark = admin.mark()
    created = await gateway.create_portal_configuration(
        PORTAL_CONFIG, stripe_account=acct, idempotency_key=key("bpc")
    )
    assert created["id"].startswith("bpc_")
    assert created["is_default"] is False
    assert created["features"]["subscription_cancel"]["mode"] == "at_period_end"
    updated = await gateway.update_portal_configuration(
        created["id"],
        {"business_profile": {"headline": "New headline"}},
        stripe_account=acct,
        idempotency_key=key("bpc-update"),
    )
    assert updated["business_profile"]["headline"] == "New headline"
    fetched = await gateway.retrieve_portal_configuration(created["id"], stripe_account=acct)
    assert fetched["business_profile"]["headline"] == "New headline"
    listed = await gateway.list_portal_configurations(stripe_account=acct)
    assert [c["id"] for c in listed] == [created["id"]]
    assert await gateway.list_portal_configurations({"is_default": True}, stripe_account=acct) == []
    retired = await gateway.update_portal_configuration(
        created["id"], {"active": False}, stripe_account=acct, idempotency_key=key("bpc-off")
    )
    assert retired["active"] is False
    assert await gateway.list_portal_configurations({"active": True}, stripe_account=acct) == []
    assert all(e["stripe_account"] == acct for e in admin.requests_since(mark))
    with pytest.raises(StripeGatewayError) as info:
        await gateway.retrieve_portal_configuration(created["id"], stripe_account=None)
    assert info.value.kind is StripeErrorKind.RESOURCE_MISSING


async def test_portal_session_on_a_connected_account(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    acct = account["id"]
    customer = await gateway.create_customer({}, stripe_account=acct, idempotency_key=key("c"))
    config = await gateway.create_portal_configuration(
        PORTAL_CONFIG, stripe_account=acct, idempotency_key=key("bpc")
    )
    mark = admin.mark()
    session = await gateway.create_portal_session(
        {"customer": customer["id"], "configuration": config["id"], "locale": "auto"},
        stripe_account=acct,
        idempotency_key=key("bps"),
    )
    assert session["object"] == "billing_portal.session"
    assert session["configuration"] == config["id"]
    assert session["url"].startswith("http")
    assert "expires_at" not in session
    [sent] = admin.requests_since(mark)
    assert sent["stripe_account"] == acct
    assert sent["params"]["configuration"] == config["id"]


async def test_portal_session_on_the_platform_on_behalf_of_an_account(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    customer = await gateway.create_customer({}, stripe_account=None, idempotency_key=key("c"))
    config = await gateway.create_portal_configuration(
        PORTAL_CONFIG, stripe_account=None, idempotency_key=key("bpc")
    )
    mark = admin.mark()
    session = await gateway.create_portal_session(
        {"customer": customer["id"], "configuration": config["id"], "on_behalf_of": account["id"]},
        stripe_account=None,
        idempotency_key=key("bps"),
    )
    assert session["on_behalf_of"] == account["id"]
    [sent] = admin.requests_since(mark)
    assert sent["stripe_account"] is None


async def test_portal_session_without_a_configuration_fails_like_stripe(
    gateway: StripeGateway, account: dict[str, Any]
):
    acct = account["id"]
    customer = await gateway.create_customer({}, stripe_account=acct, idempotency_key=key("c"))
    with pytest.raises(StripeGatewayError) as info:
        await gateway.create_portal_session(
            {"customer": customer["id"], "return_url": "https://platform.example/"},
            stripe_account=acct,
            idempotency_key=key("bps"),
        )
    assert info.value.kind is StripeErrorKind.INVALID_REQUEST
    assert "customer portal settings" in info.value.message
    assert info.value.retryable is False


async def test_events_for_a_connected_account(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    since = int(time.time()) - 1
    await gateway.update_account(
        account["id"],
        {"settings": {"branding": {"primary_color": "#112233"}}},
        idempotency_key=key("evt"),
    )
    mark = admin.mark()
    events = [
        e
        async for e in gateway.iter_events(
            stripe_account=account["id"], created_gte=since, types=["account.updated"]
        )
    ]
    assert events
    assert all(e["type"] == "account.updated" for e in events)
    assert events[0]["account"] == account["id"]
    assert events[0]["data"]["object"]["settings"]["branding"]["primary_color"] == "#112233"
    [sent] = admin.requests_since(mark, "/v1/events")
    assert sent["stripe_account"] == account["id"]
    assert sent["params"]["created"] == {"gte": str(since)}
    assert sent["params"]["types"] == ["account.updated"]
    fetched = await gateway.retrieve_event(events[0]["id"], stripe_account=account["id"])
    assert fetched == events[0]


async def test_platform_events_do_not_include_connected_account_events(
    gateway: StripeGateway, account: dict[str, Any]
):
    since = int(time.time()) - 1
    await gateway.update_account(
        account["id"],
        {"settings": {"branding": {"primary_color": "#445566"}}},
        idempotency_key=key("evt"),
    )
    platform = [e async for e in gateway.iter_events(stripe_account=None, created_gte=since)]
    assert all(e["account"] is None for e in platform)
