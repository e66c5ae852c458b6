"""Signed webhook delivery to platform and Connect endpoints."""

from __future__ import annotations

import httpx
import stripe

from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.sandbox import client_for
from tests.sandbox.helpers import webhook_receiver


def test_registered_endpoints_get_signed_platform_and_connect_events() -> None:
    with (
        webhook_receiver() as platform_hook,
        webhook_receiver() as connect_hook,
        SandboxServer(SandboxConfig()) as server,
    ):
        client = client_for(server)
        platform_ep = client.v1.webhook_endpoints.create(
            {"url": platform_hook.url + "/platform", "enabled_events": ["*"]}
        )
        connect_ep = client.v1.webhook_endpoints.create(
            {"url": connect_hook.url + "/connect", "connect": True,
             "enabled_events": ["account.updated", "billing_portal.configuration.created"]}
        )  # fmt: skip
        assert platform_ep.secret and platform_ep.secret.startswith("whsec_")
        assert connect_ep.secret is not None
        assert "secret" not in client.v1.webhook_endpoints.retrieve(connect_ep.id)

        account = client.v1.accounts.create({"type": "express"})
        client.v1.accounts.update(account.id, {"business_profile": {"name": "Renamed"}})
        client.v1.billing_portal.configurations.create(
            {"features": {"invoice_history": {"enabled": True}}}
        )
        client.v1.billing_portal.configurations.create(
            {"features": {"invoice_history": {"enabled": True}}},
            {"stripe_account": account.id},
        )
        server.drain_webhooks()

    connect_events = [
        stripe.Webhook.construct_event(r.body.decode(), r.signature or "", connect_ep.secret)
        for r in connect_hook.received
    ]
    assert sorted(e.type for e in connect_events) == [
        "account.updated",
        "billing_portal.configuration.created",
    ]
    assert all(e.account == account.id for e in connect_events)
    updated = next(e for e in connect_events if e.type == "account.updated")
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes["business_profile"]["name"] is None

    platform_events = [
        stripe.Webhook.construct_event(r.body.decode(), r.signature or "", platform_ep.secret)
        for r in platform_hook.received
    ]
    assert [e.type for e in platform_events] == ["billing_portal.configuration.created"]
    assert platform_events[0].account is None


def test_static_webhooks_and_retries_after_failures() -> None:
    secret = "whsec_static_test_secret"
    with webhook_receiver(fail_first=2) as hook:
        cfg = SandboxConfig(webhooks=[(hook.url + "/connect", secret, True)])
        with SandboxServer(cfg) as server:
            client = client_for(server)
            account = client.v1.accounts.create({"type": "express"})
            httpx.post(
                f"{server.url}/_sandbox/accounts/{account.id}/onboarding",
                json={"outcome": "complete"},
            ).raise_for_status()
            server.drain_webhooks()
            deliveries = httpx.get(f"{server.url}/_sandbox/webhooks/deliveries").json()
    events = [stripe.Webhook.construct_event(r.body, r.signature or "", secret)
              for r in hook.received]  # fmt: skip
    assert {e.type for e in events} == {"account.updated", "capability.updated"}
    assert all(d["delivered"] for d in deliveries)
    assert max(d["attempts"] for d in deliveries) >= 2  # the first two answers were 500s


def test_deauthorization_goes_to_the_platforms_connect_endpoints_only() -> None:
    with (
        webhook_receiver() as platform_hook,
        webhook_receiver() as seller_hook,
        SandboxServer(SandboxConfig()) as server,
    ):
        client = client_for(server)
        account = client.v1.accounts.create({"type": "standard"})
        connect_ep = client.v1.webhook_endpoints.create(
            {"url": platform_hook.url, "connect": True, "enabled_events": ["*"]}
        )
        seller_ep = client.v1.webhook_endpoints.create(
            {"url": seller_hook.url, "enabled_events": ["*"]}, {"stripe_account": account.id}
        )
        client.v1.billing_portal.configurations.create(
            {"features": {"invoice_history": {"enabled": True}}}, {"stripe_account": account.id}
        )
        httpx.post(f"{server.url}/_sandbox/accounts/{account.id}/deauthorize")
        server.drain_webhooks()
    assert connect_ep.secret is not None and seller_ep.secret is not None
    to_platform = [
        stripe.Webhook.construct_event(r.body.decode(), r.signature or "", connect_ep.secret)
        for r in platform_hook.received
    ]
    to_seller = [
        stripe.Webhook.construct_event(r.body.decode(), r.signature or "", seller_ep.secret)
        for r in seller_hook.received
    ]
    assert [e.type for e in to_platform] == [
        "billing_portal.configuration.created",
        "account.application.deauthorized",
    ]
    assert to_platform[1].account == account.id
    # The seller's own endpoint hears of its own objects, never of the platform losing access.
    assert [e.type for e in to_seller] == ["billing_portal.configuration.created"]


def test_webhook_endpoints_list_update_delete(sandbox_client: stripe.StripeClient) -> None:
    endpoint = sandbox_client.v1.webhook_endpoints.create(
        {"url": "http://127.0.0.1:9/hook", "enabled_events": ["account.updated"],
         "api_version": "2026-10-28.endive"}
    )  # fmt: skip
    assert endpoint.id in [e.id for e in sandbox_client.v1.webhook_endpoints.list().data]
    disabled = sandbox_client.v1.webhook_endpoints.update(endpoint.id, {"disabled": True})
    assert disabled.status == "disabled"
    assert sandbox_client.v1.webhook_endpoints.delete(endpoint.id).deleted is True
