"""Billing portal configurations and sessions, scoped per account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from platform_service.sandbox.server import SandboxServer
from tests.sandbox.helpers import png


@dataclass
class Seller:
    account: str
    product: str
    prices: list[str]
    customer: str
    subscription: str

    @property
    def opts(self) -> Any:
        return {"stripe_account": self.account}


def make_seller(client: stripe.StripeClient, name: str = "Seller") -> Seller:
    account = client.v1.accounts.create(
        {"controller": {"stripe_dashboard": {"type": "express"}},
         "business_profile": {"name": name}}
    )  # fmt: skip
    opts: Any = {"stripe_account": account.id}
    product = client.v1.products.create({"name": "Plan"}, opts)
    prices = [
        client.v1.prices.create(
            {"product": product.id, "currency": "usd", "unit_amount": amount,
             "recurring": {"interval": "month"}},
            opts,
        ).id
        for amount in (500, 1500)
    ]  # fmt: skip
    customer = client.v1.customers.create({"email": "c@example.com"}, opts)
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": prices[0]}]}, opts
    )
    return Seller(account.id, product.id, prices, customer.id, sub.id)


@pytest.fixture
def seller(sandbox_client: stripe.StripeClient) -> Seller:
    return make_seller(sandbox_client)


def full_features(seller: Seller) -> dict[str, Any]:
    return {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
        },
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "products": [{"product": seller.product, "prices": seller.prices}],
            "proration_behavior": "create_prorations",
            "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
        },
    }


def test_configuration_create_is_never_default_and_fills_features(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    config = sandbox_client.v1.billing_portal.configurations.create(
        {
            "features": {"invoice_history": {"enabled": True}},
            "business_profile": {"headline": "Acme partners with Stripe."},
            "default_return_url": "https://seller.example/account",
            "metadata": {"content_hash": "abc"},
        },
        seller.opts,
    )
    assert config.id.startswith("bpc_")
    assert config.is_default is False and config.active is True and config.livemode is False
    assert config.application is not None  # made by the platform on a connected account
    assert config.features.subscription_cancel.enabled is False
    assert config.features.subscription_update.proration_behavior == "none"
    assert config.business_profile.headline == "Acme partners with Stripe."
    listed = sandbox_client.v1.billing_portal.configurations.list({"is_default": True}, seller.opts)
    assert listed.data == []


def test_configuration_update_retrieve_and_list(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    portal = sandbox_client.v1.billing_portal.configurations
    config = portal.create({"features": full_features(seller)}, seller.opts)
    products = config.features.subscription_update.products
    assert products is not None and products[0].prices == seller.prices
    updated = portal.update(
        config.id,
        {"active": False, "business_profile": {"headline": ""}, "metadata": {"v": "2"}},
        seller.opts,
    )
    assert updated.active is False and updated.business_profile.headline is None
    assert portal.retrieve(config.id, options=seller.opts).metadata.to_dict() == {"v": "2"}
    assert [c.id for c in portal.list({"active": False}, seller.opts).data] == [config.id]
    # Invisible from the platform and from another account.
    with pytest.raises(stripe.InvalidRequestError) as info:
        portal.retrieve(config.id)
    assert info.value.code == "resource_missing" and info.value.http_status == 404


def test_configuration_rules_beyond_the_types(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    portal = sandbox_client.v1.billing_portal.configurations
    other = make_seller(sandbox_client, "Other")

    def rejected(features: dict[str, Any], **extra: Any) -> stripe.InvalidRequestError:
        with pytest.raises(stripe.InvalidRequestError) as info:
            portal.create({"features": features, **extra}, seller.opts)
        return info.value

    update = full_features(seller)["subscription_update"]
    eleven = [{"product": seller.product, "prices": [seller.prices[0]]}] * 11
    assert rejected({"subscription_update": {**update, "products": eleven}}).param == (
        "features[subscription_update][products]"
    )
    foreign = [{"product": other.product, "prices": other.prices}]
    error = rejected({"subscription_update": {**update, "products": foreign}})
    assert (error.code, error.param) == (
        "resource_missing",
        "features[subscription_update][products][0][product]",
    )
    second = sandbox_client.v1.products.create({"name": "Other plan"}, seller.opts)
    mixed = [{"product": second.id, "prices": seller.prices}]
    error = rejected({"subscription_update": {**update, "products": mixed}})
    assert error.param == "features[subscription_update][products][0][prices][0]"
    error = rejected(
        {"subscription_cancel": {"enabled": True, "proration_behavior": "always_invoice"}}
    )
    assert error.param == "features[subscription_cancel][proration_behavior]"
    error = rejected(
        {"invoice_history": {"enabled": True}}, business_profile={"headline": "x" * 61}
    )
    assert error.param == "business_profile[headline]"


def test_session_needs_a_configuration_where_no_default_was_saved(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.billing_portal.sessions.create(
            {"customer": seller.customer, "return_url": "https://x.example"}, seller.opts
        )
    assert "save your customer portal settings" in str(info.value.user_message)


def test_session_on_the_connected_account(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    icon = sandbox_client.v1.files.create({"purpose": "business_icon", "file": png()})
    sandbox_client.v1.accounts.update(
        seller.account,
        {"settings": {"branding": {"icon": icon.id, "primary_color": "#123456"}}},
    )
    config = sandbox_client.v1.billing_portal.configurations.create(
        {"features": full_features(seller)}, seller.opts
    )
    session = sandbox_client.v1.billing_portal.sessions.create(
        {"customer": seller.customer, "configuration": config.id,
         "return_url": "https://seller.example", "locale": "fr",
         "expand": ["configuration"]},
        seller.opts,
    )  # fmt: skip
    assert session.id.startswith("bps_")
    assert "expires_at" not in session
    assert isinstance(session.configuration, stripe.billing_portal.Configuration)
    assert session.configuration.id == config.id
    page = httpx.get(session.url)
    assert page.status_code == 200 and "Sandbox" in page.text
    assert 'data-source="connected_account"' in page.text
    assert seller.account in page.text and seller.subscription in page.text
    assert f"/_sandbox/files/{icon.id}" in page.text
    assert "subscription_update" in page.text


def test_session_errors_name_the_param(sandbox_client: stripe.StripeClient, seller: Seller) -> None:
    config = sandbox_client.v1.billing_portal.configurations.create(
        {"features": {"invoice_history": {"enabled": True}}}, seller.opts
    )
    base: dict[str, Any] = {
        "customer": seller.customer,
        "configuration": config.id,
        "return_url": "https://seller.example",
    }
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"customer": "cus_nope"}, "customer", "resource_missing"),
        ({"configuration": "bpc_nope"}, "configuration", "resource_missing"),
        ({"flow_data": {"type": "subscription_cancel"}},
         "flow_data[subscription_cancel]", "parameter_missing"),
        ({"flow_data": {"type": "subscription_cancel",
                        "subscription_cancel": {"subscription": seller.subscription}}},
         "flow_data[type]", None),  # the configuration does not enable cancel
        ({"flow_data": {"type": "payment_method_update",
                        "subscription_update": {"subscription": seller.subscription}}},
         "flow_data[subscription_update]", None),
        ({"flow_data": {"type": "customer_update",
                        "after_completion": {"type": "redirect"}}},
         "flow_data[after_completion][redirect]", "parameter_missing"),
        ({"on_behalf_of": seller.account}, "on_behalf_of", None),
    ]  # fmt: skip
    for change, param, code in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            sandbox_client.v1.billing_portal.sessions.create({**base, **change}, seller.opts)
        assert (info.value.param, info.value.code) == (param, code), change


def test_cancel_flow_with_retention_coupon(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    config = sandbox_client.v1.billing_portal.configurations.create(
        {"features": full_features(seller)}, seller.opts
    )
    coupon = sandbox_client.v1.coupons.create({"percent_off": 20, "duration": "once"}, seller.opts)
    session = sandbox_client.v1.billing_portal.sessions.create(
        {
            "customer": seller.customer,
            "configuration": config.id,
            "return_url": "https://seller.example",
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {
                    "subscription": seller.subscription,
                    "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}},
                },
                "after_completion": {"type": "redirect",
                                     "redirect": {"return_url": "https://seller.example/bye"}},
            },
        },
        seller.opts,
    )  # fmt: skip
    assert session.flow is not None and session.flow.type == "subscription_cancel"
    assert session.flow.after_completion.type == "redirect"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.billing_portal.sessions.create(
            {
                "customer": seller.customer,
                "configuration": config.id,
                "return_url": "https://seller.example",
                "flow_data": {
                    "type": "subscription_update_confirm",
                    "subscription_update_confirm": {
                        "subscription": seller.subscription,
                        "items": [{"id": "si_x", "price": "price_elsewhere"}],
                    },
                },
            },
            seller.opts,
        )
    assert info.value.param == "flow_data[subscription_update_confirm][items][0][price]"


def test_on_behalf_of_session_shows_the_sellers_branding(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    sandbox_client.v1.accounts.update(
        seller.account, {"settings": {"branding": {"primary_color": "#abcdef"}}}
    )
    product = sandbox_client.v1.products.create({"name": "Platform plan"})
    price = sandbox_client.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 900,
         "recurring": {"interval": "month"}}
    )  # fmt: skip
    customer = sandbox_client.v1.customers.create({"email": "p@example.com"})
    sandbox_client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "on_behalf_of": seller.account}
    )
    config = sandbox_client.v1.billing_portal.configurations.create(
        {"features": {"invoice_history": {"enabled": True}}}
    )
    assert config.application is None
    common = {"customer": customer.id, "configuration": config.id, "return_url": "https://x.io"}
    obo = sandbox_client.v1.billing_portal.sessions.create(
        {**common, "on_behalf_of": seller.account}
    )
    assert obo.on_behalf_of == seller.account
    page = httpx.get(obo.url).text
    assert 'data-source="connected_account"' in page and seller.account in page
    plain = sandbox_client.v1.billing_portal.sessions.create(common)
    page = httpx.get(plain.url).text
    assert 'data-source="platform"' in page and sandbox.platform_account_id in page


def test_customers_products_prices_coupons_promotion_codes(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    opts = seller.opts
    assert sandbox_client.v1.customers.retrieve(seller.customer, options=opts).email
    listed = sandbox_client.v1.prices.list({"product": seller.product}, opts)
    assert {p.id for p in listed.data} == set(seller.prices)
    coupon = sandbox_client.v1.coupons.create({"id": "SAVE10", "percent_off": 10}, opts)
    assert sandbox_client.v1.coupons.retrieve("SAVE10", options=opts).id == coupon.id
    promo = sandbox_client.v1.promotion_codes.create(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "WELCOME"}, opts
    )
    assert promo.id.startswith("promo_")
    found = sandbox_client.v1.promotion_codes.list({"code": "WELCOME"}, opts)
    assert [p.id for p in found.data] == [promo.id]
    subs = sandbox_client.v1.subscriptions.list({"customer": seller.customer}, opts)
    assert [s.id for s in subs.data] == [seller.subscription]
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.subscriptions.retrieve(seller.subscription)
    assert info.value.code == "resource_missing"


def test_login_page_works_only_while_its_configuration_is_active_and_enabled(
    sandbox_client: stripe.StripeClient, seller: Seller
) -> None:
    configurations = sandbox_client.v1.billing_portal.configurations
    config = configurations.create(
        {"features": {"invoice_history": {"enabled": True}}, "login_page": {"enabled": True}},
        seller.opts,
    )
    url = config.login_page.url
    assert url is not None and httpx.get(url).status_code == 200

    configurations.update(config.id, {"active": False}, seller.opts)
    assert httpx.get(url).status_code == 404
    configurations.update(config.id, {"active": True}, seller.opts)
    assert httpx.get(url).status_code == 200

    disabled = configurations.update(config.id, {"login_page": {"enabled": False}}, seller.opts)
    assert disabled.login_page.url is None
    assert httpx.get(url).status_code == 404
    # Enabling again makes a new URL; the old one stays dead.
    renewed = configurations.update(config.id, {"login_page": {"enabled": True}}, seller.opts)
    assert renewed.login_page.url not in (None, url)
    assert httpx.get(str(renewed.login_page.url)).status_code == 200
    assert httpx.get(url).status_code == 404
