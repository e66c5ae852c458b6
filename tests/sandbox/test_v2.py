"""Accounts v2, v2 account links and thin events, through the real SDK."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from platform_service.sandbox import __main__ as sandbox_main
from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.sandbox import client_for
from tests.sandbox.helpers import Receiver, png, webhook_receiver

SECRET = "whsec_v2_sandbox_test"
MERCHANT: dict[str, Any] = {
    "display_name": "Fern Bakery",
    "contact_email": "owner@fern.example",
    "dashboard": "express",
    "identity": {"country": "US", "entity_type": "company"},
    "configuration": {"merchant": {"capabilities": {"card_payments": {"requested": True}}}},
}


def merchant(client: stripe.StripeClient, **extra: Any) -> Any:
    return client.v2.core.accounts.create({**MERCHANT, **extra})


def customer_account(client: stripe.StripeClient, context: str | None = None) -> Any:
    options: Any = {"stripe_context": context} if context else {}
    return client.v2.core.accounts.create(
        {"display_name": "Pat Buyer", "contact_email": "pat@example.com",
         "configuration": {"customer": {}}},
        options,
    )  # fmt: skip


@pytest.fixture
def destination(sandbox: SandboxServer, sandbox_admin: httpx.Client) -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        body = {"url": receiver.url, "secret": SECRET}
        sandbox_admin.post("/_sandbox/event_destinations", json=body).raise_for_status()
        yield receiver
        sandbox_admin.delete("/_sandbox/event_destinations").raise_for_status()


def notifications(
    sandbox: SandboxServer, client: stripe.StripeClient, receiver: Receiver, account: str
) -> list[Any]:
    """The verified notifications about `account`, in delivery order."""
    sandbox.drain_webhooks()
    out = []
    for got in receiver.received:
        parsed = client.parse_event_notification(got.body, got.signature, SECRET)
        body = json.loads(got.body)
        if (body.get("related_object") or {}).get("id") == account or (
            body["type"] == "v2.core.account_link.returned"
        ):
            out.append(parsed)
    return out


def test_create_and_retrieve_include_only_what_is_asked(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = merchant(sandbox_client, include=["configuration.merchant", "identity"])
    assert account.object == "v2.core.account"
    assert account.applied_configurations == ["merchant"]
    assert account.configuration.merchant.capabilities.card_payments.status == "restricted"
    assert account.identity.country == "US" and account.requirements is None
    assert account.created.endswith("Z") and account.dashboard == "express"

    plain = sandbox_client.v2.core.accounts.retrieve(account.id)
    assert plain.display_name == "Fern Bakery" and plain.contact_email == "owner@fern.example"
    assert plain.configuration is None and plain.identity is None and plain.defaults is None

    full = sandbox_client.v2.core.accounts.retrieve(
        account.id, {"include": ["requirements", "defaults", "configuration.recipient"]}
    )
    assert full.configuration.recipient is None and full.configuration.merchant is None
    assert full.defaults.responsibilities.requirements_collector == "stripe"
    entries = {e.description: e for e in full.requirements.entries}
    assert entries["external_account"].minimum_deadline.status == "past_due"
    assert full.requirements.summary.minimum_deadline.status == "past_due"
    impact = entries["external_account"].impact.restricts_capabilities[0]
    assert (impact.capability, impact.configuration) == ("card_payments", "merchant")

    v1 = sandbox_client.v1.accounts.retrieve(account.id)
    assert v1.business_profile.name == "Fern Bakery" and v1.email == "owner@fern.example"
    assert v1.controller.stripe_dashboard.type == "express"


def test_v2_branding_is_the_v1_branding_and_the_portals(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = merchant(sandbox_client)
    icon = sandbox_client.v1.files.create({"purpose": "business_icon", "file": png()})
    updated = sandbox_client.v2.core.accounts.update(
        account.id,
        {"configuration": {"merchant": {"branding": {"icon": icon.id, "primary_color": "#0A7D5A"}}},
         "include": ["configuration.merchant"]},
    )  # fmt: skip
    assert updated.configuration.merchant.branding.icon == icon.id
    branding = sandbox_client.v1.accounts.retrieve(account.id).settings.branding
    assert (branding.icon, branding.primary_color) == (icon.id, "#0A7D5A")

    opts: Any = {"stripe_account": account.id}
    customer = sandbox_client.v1.customers.create({"email": "c@example.com"}, opts)
    config = sandbox_client.v1.billing_portal.configurations.create(
        {"features": {"invoice_history": {"enabled": True}}}, opts
    )
    session = sandbox_client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "configuration": config.id}, opts
    )
    page = httpx.get(session.url).text
    assert f"/_sandbox/files/{icon.id}" in page and "#0A7D5A" in page


@pytest.mark.parametrize(
    ("branding", "param"),
    [
        ({"primary_color": "green"}, "configuration.merchant.branding.primary_color"),
        ({"icon": "non_square"}, "configuration.merchant.branding.icon"),
        ({"logo": "file_missing"}, "configuration.merchant.branding.logo"),
    ],
)
def test_bad_branding_is_a_400_naming_the_v2_param(
    sandbox_client: stripe.StripeClient, branding: dict[str, str], param: str
) -> None:
    account = merchant(sandbox_client)
    if branding.get("icon") == "non_square":
        wide = sandbox_client.v1.files.create({"purpose": "business_icon", "file": png(400, 200)})
        branding = {"icon": wide.id}
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v2.core.accounts.update(
            account.id, {"configuration": {"merchant": {"branding": branding}}}
        )
    assert info.value.http_status == 400 and info.value.param == param
    assert sandbox_client.v1.accounts.retrieve(account.id).settings.branding.icon is None


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"display_name": "x", "nickname": "x"}, "nickname", "parameter_unknown"),
        (
            {"configuration": {"merchant": {"colour": "x"}}},
            "configuration.merchant.colour",
            "parameter_unknown",
        ),
        ({"display_name": 7}, "display_name", None),
        ({"dashboard": "partial"}, "dashboard", None),
        (
            {"configuration": {"recipient": {"capabilities": {"cards": {"requested": "yes"}}}}},
            "configuration.recipient.capabilities.cards.requested",
            None,
        ),
        ({"include": "identity"}, "include", None),
    ],
)
def test_json_params_are_checked_as_json(
    sandbox_client: stripe.StripeClient, params: dict[str, Any], param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v2.core.accounts.create(params)  # type: ignore[arg-type]
    assert (info.value.http_status, info.value.param, info.value.code) == (400, param, code)
    assert info.value.json_body["error"]["type"] == "invalid_request_error"


def test_unknown_account_is_a_404_resource_missing(sandbox_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v2.core.accounts.retrieve("acct_missing")
    assert info.value.http_status == 404 and info.value.code == "resource_missing"


def test_idempotent_replay_and_mismatch(sandbox: SandboxServer) -> None:
    client = client_for(sandbox)
    key: Any = {"idempotency_key": f"v2-create-{time.time_ns()}"}
    first = client.v2.core.accounts.create(MERCHANT, key)  # type: ignore[arg-type]
    again = client.v2.core.accounts.create(MERCHANT, key)  # type: ignore[arg-type]
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Stripe-Version"]
    with pytest.raises(stripe.IdempotencyError) as info:
        client.v2.core.accounts.create({**MERCHANT, "display_name": "Other"}, key)  # type: ignore[arg-type]
    assert info.value.http_status == 400
    assert info.value.json_body["error"]["type"] == "idempotency_error"
    log = httpx.get(f"{sandbox.url}/_sandbox/requests").json()
    mine = [e for e in log if e["idempotency_key"] == key["idempotency_key"]]
    assert [e["replayed"] for e in mine] == [False, True, False]


def test_customer_account_lives_in_its_stripe_context(sandbox_client: stripe.StripeClient) -> None:
    seller = merchant(sandbox_client)
    buyer = customer_account(sandbox_client, seller.id)
    assert buyer.applied_configurations == ["customer"]
    context: Any = {"stripe_context": f"acct_platform/{seller.id}"}  # the last segment counts
    assert sandbox_client.v2.core.accounts.retrieve(buyer.id, None, context).id == buyer.id
    with pytest.raises(stripe.InvalidRequestError):
        sandbox_client.v2.core.accounts.retrieve(buyer.id)  # not on the platform
    assert buyer.id not in {a.id for a in sandbox_client.v2.core.accounts.list().auto_paging_iter()}

    opts: Any = {"stripe_account": seller.id}
    price = sandbox_client.v1.prices.create(
        {"currency": "usd", "unit_amount": 700, "recurring": {"interval": "month"},
         "product_data": {"name": "Bread club"}},
        opts,
    )  # fmt: skip
    sub = sandbox_client.v1.subscriptions.create(
        {"customer_account": buyer.id, "items": [{"price": price.id}]}, opts
    )
    assert sub.customer_account == buyer.id
    config = sandbox_client.v1.billing_portal.configurations.create(
        {"features": {"invoice_history": {"enabled": True}}}, opts
    )
    session = sandbox_client.v1.billing_portal.sessions.create(
        {"customer_account": buyer.id, "configuration": config.id}, opts
    )
    assert session.customer_account == buyer.id and session.customer is None
    page = httpx.get(session.url).text
    assert buyer.id in page and sub.id in page and "pat@example.com" in page
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.billing_portal.sessions.create({"customer_account": buyer.id})
    assert info.value.param == "customer_account"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.billing_portal.sessions.create(
            {"customer_account": buyer.id, "customer": "cus_x", "configuration": config.id}, opts
        )
    assert info.value.http_status == 400


def test_unknown_stripe_context_is_account_invalid(sandbox_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.PermissionError) as info:
        sandbox_client.v2.core.accounts.list(None, {"stripe_context": "acct_unknown"})
    assert info.value.http_status == 403
    assert info.value.json_body["error"]["code"] == "account_invalid"


def test_list_pages_with_next_page_url(sandbox_client: stripe.StripeClient) -> None:
    seller = merchant(sandbox_client)
    context: Any = {"stripe_context": seller.id}
    made = [customer_account(sandbox_client, seller.id).id for _ in range(5)]
    first = sandbox_client.v2.core.accounts.list({"limit": 2}, context)
    assert [a.id for a in first.data] == made[::-1][:2]
    assert first.next_page_url and first.next_page_url.startswith("/v2/core/accounts?page=")
    assert first.previous_page_url is None
    assert [a.id for a in first.auto_paging_iter()] == made[::-1]
    merchants = sandbox_client.v2.core.accounts.list(
        {"applied_configurations": ["merchant"], "limit": 100}
    )
    assert seller.id in {a.id for a in merchants.data}
    assert not {a.id for a in merchants.data} & set(made)


def test_close(sandbox_client: stripe.StripeClient) -> None:
    buyer = customer_account(sandbox_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v2.core.accounts.close(buyer.id, {"applied_configurations": ["merchant"]})
    assert info.value.param == "applied_configurations"
    closed = sandbox_client.v2.core.accounts.close(
        buyer.id, {"applied_configurations": ["customer"]}
    )
    assert closed.closed is True
    assert buyer.id not in {a.id for a in sandbox_client.v2.core.accounts.list({"limit": 100})}
    listed = sandbox_client.v2.core.accounts.list({"closed": True, "limit": 100})
    assert buyer.id in {a.id for a in listed}
    types = [e.type for e in sandbox_client.v2.core.events.list({"object_id": buyer.id})]
    assert "v2.core.account.closed" in types


def test_v1_accounts_show_in_v2_after_the_ready_delay(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, sandbox_admin: httpx.Client
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"v2_ready_delay_s": 0.5}).raise_for_status()
    account = sandbox_client.v1.accounts.create(
        {"controller": {"stripe_dashboard": {"type": "none"}}}
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v2.core.accounts.retrieve(account.id)
    assert info.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        sandbox_client.v2.core.accounts.update(account.id, {"display_name": "Early"})
    assert not list(sandbox_client.v2.core.events.list({"object_id": account.id}))
    time.sleep(0.7)
    seen = sandbox_client.v2.core.accounts.retrieve(account.id, {"include": ["defaults"]})
    assert seen.dashboard == "none"
    assert seen.defaults.responsibilities.requirements_collector == "application"
    types = [e.type for e in sandbox_client.v2.core.events.list({"object_id": account.id})]
    assert types == ["v2.core.account.created"]


def test_thin_notifications_are_signed_and_the_full_event_is_fetched(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, destination: Receiver
) -> None:
    account = merchant(sandbox_client)
    sandbox_client.v2.core.accounts.update(
        account.id,
        {"configuration": {"merchant": {"branding": {"primary_color": "#111111"}}}},
        {"idempotency_key": f"brand-{account.id}"},
    )
    # Delivery order is not guaranteed (as on Stripe); order by event id's creation.
    got = {n.type: n for n in notifications(sandbox, sandbox_client, destination, account.id)}
    assert sorted(got) == [
        "v2.core.account.created",
        "v2.core.account.updated",
        "v2.core.account[configuration.merchant].updated",
    ]
    raw = json.loads(destination.received[-1].body)
    assert "changes" not in raw and raw["object"] == "v2.core.event" and raw["context"] is None
    assert raw["related_object"] == {
        "id": account.id, "type": "v2.core.account", "url": f"/v2/core/accounts/{account.id}"
    }  # fmt: skip
    updated = got["v2.core.account.updated"]
    assert updated.reason is not None and updated.reason.request is not None
    assert updated.reason.request.idempotency_key == f"brand-{account.id}"
    event = updated.fetch_event()
    assert event.id == updated.id and event.created.endswith("Z")
    assert event.changes["after"]["configuration"]["merchant"]["branding"]["primary_color"] == (
        "#111111"
    )
    merchant_event = got["v2.core.account[configuration.merchant].updated"]
    assert merchant_event.fetch_related_object().id == account.id  # type: ignore[attr-defined]
    deliveries = httpx.get(f"{sandbox.url}/_sandbox/webhooks/deliveries").json()
    assert {d["event_id"] for d in deliveries} >= {n.id for n in got.values()}


def test_context_events_are_read_in_their_context(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, destination: Receiver
) -> None:
    seller = merchant(sandbox_client)
    buyer = customer_account(sandbox_client, seller.id)
    [created] = notifications(sandbox, sandbox_client, destination, buyer.id)
    assert str(created.context) == seller.id
    assert created.fetch_event().type == "v2.core.account.created"  # fetched with its context
    with pytest.raises(stripe.InvalidRequestError):
        sandbox_client.v2.core.events.retrieve(created.id)


def test_onboarding_outcome_and_link_return_emit_thin_events(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, destination: Receiver
) -> None:
    account = merchant(sandbox_client)
    link = sandbox_client.v2.core.account_links.create(
        {"account": account.id,
         "use_case": {"type": "account_onboarding",
                      "account_onboarding": {"refresh_url": "https://x.example/refresh",
                                             "return_url": "https://x.example/return"}}}
    )  # fmt: skip
    assert link.object == "v2.core.account_link" and link.expires_at.endswith("Z")
    assert link.use_case.type == "account_onboarding"
    answer = httpx.post(link.url, data={"outcome": "complete"})
    assert answer.is_redirect and answer.headers["location"] == "https://x.example/return"
    types = [n.type for n in notifications(sandbox, sandbox_client, destination, account.id)]
    assert "v2.core.account[requirements].updated" in types
    assert "v2.core.account_link.returned" in types
    returned = sandbox_client.v2.core.events.list(
        {"object_id": account.id, "types": ["v2.core.account_link.returned"]}
    ).data[0]
    assert returned.data.use_case == "account_onboarding"  # type: ignore[attr-defined]
    assert returned.data.account_id == account.id  # type: ignore[attr-defined]
    assert "related_object" not in returned.to_dict()  # as the SDK's event class has it
    seen = sandbox_client.v2.core.accounts.retrieve(
        account.id, {"include": ["requirements", "configuration.merchant"]}
    )
    assert seen.requirements.entries == []
    assert seen.configuration.merchant.capabilities.card_payments.status == "active"

    httpx.post(
        f"{sandbox.url}/_sandbox/accounts/{account.id}/onboarding", json={"outcome": "under_review"}
    ).raise_for_status()
    later = [n.type for n in notifications(sandbox, sandbox_client, destination, account.id)]
    assert later[len(types) :].count("v2.core.account[requirements].updated") == 1
    entry = sandbox_client.v2.core.accounts.retrieve(account.id, {"include": ["requirements"]})
    assert entry.requirements.entries[0].awaiting_action_from == "stripe"


def test_v1_updates_of_a_v2_account_emit_thin_events(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient, destination: Receiver
) -> None:
    account = merchant(sandbox_client)
    sandbox_client.v1.accounts.update(account.id, {"business_profile": {"name": "Renamed"}})
    sandbox_client.v1.accounts.update(account.id, {"metadata": {"unchanged": ""}})  # no change
    types = [n.type for n in notifications(sandbox, sandbox_client, destination, account.id)]
    assert sorted(types) == ["v2.core.account.created", "v2.core.account.updated"]


def test_event_list_filters_by_created(sandbox_client: stripe.StripeClient) -> None:
    account = merchant(sandbox_client)
    created = sandbox_client.v2.core.events.list({"object_id": account.id}).data[0].created
    assert not sandbox_client.v2.core.events.list(
        {"object_id": account.id, "created": {"gt": created}}
    ).data
    assert sandbox_client.v2.core.events.list(
        {"object_id": account.id, "created": {"gte": created}, "types": ["v2.core.account.created"]}
    ).data


def test_v2_is_rate_limited_like_v1() -> None:
    with SandboxServer(SandboxConfig(rate_limit=3, endpoint_rate_limit=None)) as server:
        client = client_for(server)
        for _ in range(3):
            client.v2.core.accounts.list()
        with pytest.raises(stripe.RateLimitError) as info:
            client.v2.core.accounts.list()
        assert info.value.http_status == 429
        assert info.value.json_body["error"]["type"] == "rate_limit"
        assert info.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"


def test_injected_500_is_an_api_error(
    sandbox_client: stripe.StripeClient, sandbox_admin: httpx.Client
) -> None:
    sandbox_admin.post(
        "/_sandbox/faults", json={"next": [{"kind": "500", "path": "/v2/core/accounts"}]}
    ).raise_for_status()
    with pytest.raises(stripe.APIError) as info:
        sandbox_client.v2.core.accounts.list()
    assert info.value.http_status == 500


def test_static_event_destinations_are_retried() -> None:
    with webhook_receiver(fail_first=1) as receiver:
        cfg = SandboxConfig(limits=False, event_destinations=[(receiver.url, SECRET)])
        with SandboxServer(cfg) as server:
            client = client_for(server)
            account = merchant(client)
            [created] = notifications(server, client, receiver, account.id)
            assert created.type == "v2.core.account.created"
            deliveries = httpx.get(f"{server.url}/_sandbox/webhooks/deliveries").json()
            [delivery] = [d for d in deliveries if d["event_id"] == created.id]
            assert delivery["attempts"] == 2 and delivery["delivered"]


def test_page_tokens_are_checked(sandbox_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.raw_request("get", "/v2/core/accounts", page="page_not-a-token")
    assert info.value.param == "page"


def test_event_destination_flag() -> None:
    assert sandbox_main.parse_event_destination("http://h/x=whsec_1") == ("http://h/x", "whsec_1")
    with pytest.raises(argparse.ArgumentTypeError):
        sandbox_main.parse_event_destination("http://h/x")
