"""Accounts, account links and files through the gateway, against the sandbox over HTTP."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from platform_service.sandbox.server import SandboxServer
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import PINNED_API_VERSION, StripeGateway
from tests.stripe.support import SandboxAdmin, key, make_account, png


async def test_create_account_returns_plain_json_and_sends_the_callers_key(
    gateway: StripeGateway, admin: SandboxAdmin
):
    mark = admin.mark()
    idem = key("create")
    account = await gateway.create_account(
        {
            "country": "US",
            "controller": {
                "stripe_dashboard": {"type": "express"},
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
            },
        },
        idempotency_key=idem,
    )
    assert type(account) is dict
    assert account["id"].startswith("acct_")
    assert type(account["requirements"]) is dict
    [sent] = admin.requests_since(mark)
    assert (sent["method"], sent["path"]) == ("POST", "/v1/accounts")
    assert sent["idempotency_key"] == idem
    assert sent["stripe_account"] is None
    assert sent["params"]["controller"]["stripe_dashboard"]["type"] == "express"


async def test_retrieve_and_update_account_branding(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    mark = admin.mark()
    updated = await gateway.update_account(
        account["id"],
        {
            "settings": {"branding": {"primary_color": "#0A2540", "secondary_color": "#FFFFFF"}},
            "business_profile": {"name": "Acme Bikes"},
        },
        idempotency_key=key("branding"),
    )
    assert updated["settings"]["branding"]["primary_color"] == "#0A2540"
    fetched = await gateway.retrieve_account(account["id"])
    assert fetched["business_profile"]["name"] == "Acme Bikes"
    sent = admin.requests_since(mark)
    assert [(e["method"], e["path"]) for e in sent] == [
        ("POST", f"/v1/accounts/{account['id']}"),
        ("GET", f"/v1/accounts/{account['id']}"),
    ]
    # Accounts are addressed by path on the platform, never through Stripe-Account.
    assert all(e["stripe_account"] is None for e in sent)


async def test_iter_accounts_walks_every_page(gateway: StripeGateway, admin: SandboxAdmin):
    created = {(await make_account(gateway))["id"] for _ in range(5)}
    mark = admin.mark()
    seen = [a["id"] async for a in gateway.iter_accounts({"limit": 2})]
    assert created <= set(seen)
    assert len(seen) == len(set(seen))
    pages = admin.requests_since(mark, "/v1/accounts")
    assert len(pages) >= 3
    assert "starting_after" not in pages[0]["params"]
    assert all(p["params"].get("starting_after") for p in pages[1:])


async def test_iter_accounts_asks_for_pages_of_100_by_default(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    mark = admin.mark()
    assert account["id"] in [a["id"] async for a in gateway.iter_accounts()]
    assert admin.requests_since(mark, "/v1/accounts")[0]["params"]["limit"] == "100"


async def test_delete_account(gateway: StripeGateway, account: dict[str, Any]):
    deleted = await gateway.delete_account(account["id"])
    assert deleted == {"id": account["id"], "object": "account", "deleted": True}
    with pytest.raises(StripeGatewayError) as info:
        await gateway.retrieve_account(account["id"])
    assert info.value.kind is StripeErrorKind.RESOURCE_MISSING


async def test_reject_account(gateway: StripeGateway, account: dict[str, Any]):
    rejected = await gateway.reject_account(
        account["id"], reason="terms_of_service", idempotency_key=key("reject")
    )
    assert rejected["requirements"]["disabled_reason"] == "rejected.terms_of_service"


async def test_retrieve_current_account_acts_as_the_connected_account(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin, sandbox: SandboxServer
):
    mark = admin.mark()
    assert (await gateway.retrieve_current_account(stripe_account=account["id"]))["id"] == (
        account["id"]
    )
    platform = await gateway.retrieve_current_account(stripe_account=None)
    assert platform["id"] == sandbox.platform_account_id
    first, second = admin.requests_since(mark, "/v1/account")
    assert first["stripe_account"] == account["id"]
    assert second["stripe_account"] is None


async def test_create_account_link(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    mark = admin.mark()
    link = await gateway.create_account_link(
        {
            "account": account["id"],
            "type": "account_onboarding",
            "refresh_url": "https://platform.example/refresh",
            "return_url": "https://platform.example/return",
        },
        idempotency_key=key("link"),
    )
    assert link["object"] == "account_link"
    assert link["url"].startswith("http")
    assert link["expires_at"] > link["created"]
    [sent] = admin.requests_since(mark)
    assert sent["stripe_account"] is None


async def test_upload_file_goes_to_the_platform_and_brands_an_account(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    mark = admin.mark()
    uploaded = await gateway.upload_file(
        "business_icon", "icon.png", png(), idempotency_key=key("upload")
    )
    assert uploaded["id"].startswith("file_")
    assert uploaded["purpose"] == "business_icon"
    [sent] = admin.requests_since(mark, "/v1/files")
    assert sent["stripe_account"] is None
    assert sent["params"]["purpose"] == "business_icon"
    assert (await gateway.retrieve_file(uploaded["id"]))["id"] == uploaded["id"]
    updated = await gateway.update_account(
        account["id"],
        {"settings": {"branding": {"icon": uploaded["id"]}}},
        idempotency_key=key("icon"),
    )
    assert updated["settings"]["branding"]["icon"] == uploaded["id"]
    expanded = await gateway.retrieve_account(account["id"], expand=["settings.branding.icon"])
    assert expanded["settings"]["branding"]["icon"]["id"] == uploaded["id"]
    assert admin.requests_since(mark)[-1]["params"]["expand"] == ["settings.branding.icon"]


async def test_calls_are_logged_by_operation_without_params(
    gateway: StripeGateway, account: dict[str, Any], caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="platform_service.stripe.gateway")
    await gateway.update_account(
        account["id"], {"business_profile": {"name": "Secret Name"}}, idempotency_key=key()
    )
    messages = [
        r.getMessage() for r in caplog.records if r.name == "platform_service.stripe.gateway"
    ]
    assert messages == ["stripe.accounts.update"]
    assert "Secret Name" not in caplog.text


def test_api_version_is_pinned_to_the_sdks():
    assert PINNED_API_VERSION == "2026-10-28.endive"
    assert StripeGateway(secret_key="sk_test_x").api_version == PINNED_API_VERSION
