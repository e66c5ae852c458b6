"""The same journeys on Accounts v1 and on Accounts v2, end to end.

One service, one sandbox of its own (its webhooks and thin events reach only this
module's app): a seller onboarded to active by Stripe's events alone, branding per
charge model as Stripe holds it and as the real portal shows it, a portal session
per charge model (a Customer on v1, a customer Account on v2), a 1,000-account bulk
branding job applied exactly once per account, and webhook dedupe and replay. Each
test runs once per API; on v2 every account call must go to `/v2/core/...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from platform_service.app import create_app
from platform_service.auth.keys import create_key
from platform_service.db.migrate import upgrade
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxConfig, SandboxServer
from platform_service.sandbox.webhooks import sign
from tests.fixtures.app import make_settings, serve_app
from tests.fixtures.sandbox import client_for
from tests.fixtures.services import fresh_database
from tests.integration.test_accounts import drive, new_account, sandbox_requests
from tests.integration.test_portal_settings import catalogue, log_position, opts
from tests.integration.test_portal_truth import portal_shows

pytestmark = pytest.mark.timeout(300)

APIS = pytest.mark.parametrize("api", ["v1", "v2"])
CHARGE_MODELS = pytest.mark.parametrize(
    "charge_model",
    ["direct", "destination_on_behalf_of", "destination", "separate_charges_and_transfers"],
)
RETURN_URL = "https://shop.example.com/account"


@dataclass
class Stack:
    client: httpx.AsyncClient
    headers: dict[str, str]
    sandbox: SandboxServer
    stripe: stripe.StripeClient
    connect_secret: str
    thin_secret: str
    url: str
    endpoint_id: str


@pytest.fixture(scope="module")
async def own_database() -> AsyncIterator[str]:
    """A database of this module's own: its sandbox is another Stripe platform, whose
    platform-level rows (portal configurations on the platform) must not meet the
    session sandbox's."""
    async with fresh_database("ps_v1v2") as url:
        await upgrade(url)
        yield url


@pytest.fixture(scope="module")
async def stack(own_database: str) -> AsyncIterator[Stack]:
    # Limits off: the bulk journey creates a thousand accounts per API, and Stripe's
    # pacing is what tests/integration/test_bulk.py and the benches measure.
    with SandboxServer(SandboxConfig(limits=False)) as sandbox:
        settings = make_settings(
            database_url=own_database,
            stripe_api_base=sandbox.url,
            stripe_secret_key=sandbox.secret_key,
            rate_limit_ops_per_s=2000.0,
            allowed_return_hosts=("shop.example.com",),
        )
        runtime = Runtime.build(settings, role="api")
        server, task, url = await serve_app(create_app(settings, runtime=runtime))
        runtime.public_url = url
        sdk = client_for(sandbox)
        # v1: a Connect webhook endpoint, registered the Stripe way (the secret comes back).
        endpoint = sdk.v1.webhook_endpoints.create(
            {"url": f"{url}/v1/webhooks/stripe/connect", "enabled_events": ["*"], "connect": True}
        )
        runtime.connect_webhook_secrets = (str(endpoint.secret),)
        # v2: an event destination with thin payloads.
        thin_secret = f"whsec_{secrets.token_hex(16)}"
        httpx.post(
            f"{sandbox.url}/_sandbox/event_destinations",
            json={"url": f"{url}/v1/webhooks/stripe/thin", "secret": thin_secret},
        ).raise_for_status()
        runtime.thin_webhook_secrets = (thin_secret,)
        async with runtime.session() as session, session.begin():
            _, key = await create_key(session, role="admin")
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            yield Stack(
                client,
                {"Authorization": f"Bearer {key}"},
                sandbox,
                sdk,
                str(endpoint.secret),
                thin_secret,
                url,
                str(endpoint.id),
            )
        server.should_exit = True
        await task
        await runtime.aclose()


async def create(stack: Stack, api: str, **overrides: Any) -> dict[str, Any]:
    resp = await stack.client.post(
        "/v1/accounts", json=new_account(accounts_api=api, **overrides), headers=stack.headers
    )
    assert resp.status_code == 201, resp.text
    account: dict[str, Any] = resp.json()
    assert account["accounts_api"] == api
    return account


async def wait_for(stack: Stack, account_id: str, status: str) -> dict[str, Any]:
    account: dict[str, Any] = {}
    for _ in range(300):
        resp = await stack.client.get(f"/v1/accounts/{account_id}", headers=stack.headers)
        account = resp.json()
        if account["onboarding"]["status"] == status:
            return account
        await asyncio.sleep(0.05)
    raise AssertionError(f"{account_id} never reached {status}: {account['onboarding']}")


def account_calls(stack: Stack, since: int, account_id: str) -> list[str]:
    """The Stripe calls about `account_id` since `since`, as "METHOD /path STATUS"."""
    return [
        f"{r['method']} {r['path']} {r['status']}"
        for r in sandbox_requests(stack.sandbox, since)
        if account_id in r["path"] or (r.get("params") or {}).get("account") == account_id
    ]


def assert_on_api(calls: list[str], api: str) -> None:
    """Every account call went to `api`, and the sandbox, which checks each request against
    the SDK's params types of its API version, refused none."""
    assert calls, "the service made no call about the account"
    if api == "v2":
        assert all(" /v2/core/" in call for call in calls), calls
    else:
        assert not [call for call in calls if " /v2/" in call], calls
    assert all(int(call.rsplit(" ", 1)[1]) < 400 for call in calls), calls


def stripe_branding(stack: Stack, api: str, account_id: str) -> dict[str, Any]:
    """The account's branding as Stripe holds it, read through the account's own API."""
    if api == "v2":
        account = stack.stripe.v2.core.accounts.retrieve(
            account_id, {"include": ["configuration.merchant"]}
        ).to_dict(recursive=True)
        return dict(account["configuration"]["merchant"]["branding"] or {})
    return dict(
        stack.stripe.v1.accounts.retrieve(account_id).to_dict(recursive=True)["settings"][
            "branding"
        ]
    )


async def active_seller(stack: Stack, api: str, charge_model: str = "direct") -> dict[str, Any]:
    account = await create(stack, api, charge_model=charge_model)
    drive(stack.sandbox, account["id"], "complete")
    return await wait_for(stack, account["id"], "active")


@APIS
async def test_onboarding_to_active_by_stripes_events_alone(stack: Stack, api: str) -> None:
    since = log_position(stack.sandbox)
    account = await create(stack, api)
    assert account["onboarding"]["status"] == "not_started"
    link = await stack.client.post(
        f"/v1/accounts/{account['id']}/onboarding-links",
        json={"return_url": "https://platform.example/sellers/back"},
        headers=stack.headers,
    )
    assert link.status_code == 201, link.text
    assert link.json()["url"].startswith(stack.sandbox.url)
    assert (await wait_for(stack, account["id"], "in_progress"))["details_submitted"] is False
    # The seller half-finishes, then finishes; only Stripe's events move the state.
    drive(stack.sandbox, account["id"], "requirements_due")
    due = await wait_for(stack, account["id"], "action_required")
    assert due["onboarding"]["due_fields"] == ["individual.verification.document"]
    # The seller finishes on Stripe's hosted page (the link made above) and comes back.
    async with httpx.AsyncClient(timeout=10) as browser:
        back = await browser.post(link.json()["url"], data={"outcome": "complete"})
    assert back.is_redirect and back.headers["location"] == "https://platform.example/sellers/back"
    active = await wait_for(stack, account["id"], "active")
    assert active["charges_enabled"] and active["payouts_enabled"]
    assert active["details_submitted"] is True
    assert_on_api(account_calls(stack, since, account["id"]), api)
    if api == "v2":
        # A returned link names its account in the event's data only: read, and handled.
        returned: list[dict[str, Any]] = []
        for _ in range(200):
            resp = await stack.client.get(
                "/v1/webhook-events",
                params={"type": "v2.core.account_link.returned", "limit": 100},
                headers=stack.headers,
            )
            returned = [e for e in resp.json()["data"] if e["status"] == "processed"]
            if returned:
                break
            await asyncio.sleep(0.05)
        assert returned, "v2.core.account_link.returned was not processed"


@APIS
@CHARGE_MODELS
async def test_branding_and_the_portal_session_per_charge_model(
    stack: Stack, api: str, charge_model: str
) -> None:
    seller = await active_seller(stack, api, charge_model)
    since = log_position(stack.sandbox)
    resp = await stack.client.patch(
        f"/v1/accounts/{seller['id']}/branding",
        json={"display_name": "Seller Shop", "button_color": "#AA0000"},
        headers=stack.headers,
    )
    assert resp.status_code == 200, resp.text
    held = stripe_branding(stack, api, seller["id"])
    assert held["primary_color"].upper() == "#AA0000"
    writes = [c for c in account_calls(stack, since, seller["id"]) if c.startswith("POST")]
    assert len(writes) == 1, writes
    assert_on_api(writes, api)

    # The customer where the charge model puts it: a Customer (v1) or a customer
    # Account (v2), on the seller for direct charges, else on the platform.
    home = seller["id"] if charge_model == "direct" else None
    _, prices, _ = catalogue(stack.stripe, home)
    if api == "v2":
        customer = stack.stripe.v2.core.accounts.create(
            {"contact_email": "c@example.com", "configuration": {"customer": {}}},
            {"stripe_context": home} if home else {},
        ).id
        who: dict[str, Any] = {"customer_account": customer}
    else:
        customer = stack.stripe.v1.customers.create({"email": "c@example.com"}, opts(home)).id
        who = {"customer": customer}
    sub: dict[str, Any] = {**who, "items": [{"price": prices[0]}]}
    if charge_model == "destination_on_behalf_of":
        sub["on_behalf_of"] = seller["id"]
    if charge_model == "destination":
        sub["transfer_data"] = {"destination": seller["id"]}
    stack.stripe.v1.subscriptions.create(sub, opts(home))  # type: ignore[arg-type]

    since = log_position(stack.sandbox)
    opened = await stack.client.post(
        f"/v1/accounts/{seller['id']}/portal-sessions",
        json={**who, "return_url": RETURN_URL},
        headers=stack.headers,
    )
    assert opened.status_code == 201, opened.text
    sent = [
        r
        for r in sandbox_requests(stack.sandbox, since)
        if r["path"] == "/v1/billing_portal/sessions"
    ][-1]
    assert sent["stripe_account"] == home
    assert {k: sent["params"].get(k) for k in who} == who
    assert sent["params"].get("on_behalf_of") == (
        seller["id"] if charge_model == "destination_on_behalf_of" else None
    )
    async with httpx.AsyncClient(timeout=10) as browser:
        shown = portal_shows((await browser.get(opened.json()["url"])).text)
    if charge_model in ("direct", "destination_on_behalf_of"):
        assert opened.json()["branding_source"] == "connected_account"
        assert shown["name"] == "Seller Shop"
        assert shown["button_color"].upper() == "#AA0000"
    else:
        assert opened.json()["branding_source"] == "platform"
        assert shown["name"] != "Seller Shop"


@APIS
async def test_a_thousand_account_bulk_branding_job_applies_each_exactly_once(
    stack: Stack, api: str
) -> None:
    async with events_paused(stack):
        await _bulk_journey(stack, api)


@contextlib.asynccontextmanager
async def events_paused(stack: Stack) -> AsyncIterator[None]:
    """Stripe's events about a thousand new accounts are not what this journey is about
    (the others cover them): delivery is paused so they don't compete for the one test
    process that runs the sandbox, the service and its in-process jobs."""
    stack.stripe.v1.webhook_endpoints.update(stack.endpoint_id, {"disabled": True})
    httpx.delete(f"{stack.sandbox.url}/_sandbox/event_destinations").raise_for_status()
    try:
        yield
    finally:
        stack.stripe.v1.webhook_endpoints.update(stack.endpoint_id, {"disabled": False})
        httpx.post(
            f"{stack.sandbox.url}/_sandbox/event_destinations",
            json={"url": f"{stack.url}/v1/webhooks/stripe/thin", "secret": stack.thin_secret},
        ).raise_for_status()


async def _bulk_journey(stack: Stack, api: str) -> None:
    # Created the way a platform's backfill would: a few at a time.
    gate = asyncio.Semaphore(8)

    async def one() -> str:
        async with gate:
            return str((await create(stack, api))["id"])

    account_ids = list(await asyncio.gather(*(one() for _ in range(1000))))
    color = f"#{secrets.token_hex(3).upper()}"
    since = log_position(stack.sandbox)
    resp = await stack.client.post(
        "/v1/bulk-jobs",
        json={
            "kind": "branding",
            "target": {"account_ids": account_ids},
            "patch": {"button_color": color},
        },
        headers=stack.headers,
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    deadline = time.monotonic() + 240
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = (await stack.client.get(f"/v1/bulk-jobs/{job_id}", headers=stack.headers)).json()
        if job["status"] in ("succeeded", "partially_failed", "failed"):
            break
        await asyncio.sleep(0.5)
    assert job["status"] == "succeeded", job
    assert job["succeeded"] == 1000
    # Exactly once per account, by Stripe's own count of applied idempotency keys.
    applied = httpx.get(f"{stack.sandbox.url}/_sandbox/idempotency").json()
    mine = {k: v for k, v in applied.items() if job_id in k}
    assert len(mine) == 1000
    assert set(mine.values()) == {1}
    writes = [
        f"{r['method']} {r['path']} {r['status']}"
        for r in sandbox_requests(stack.sandbox, since)
        if r["method"] == "POST" and (r.get("idempotency_key") or "").find(job_id) >= 0
    ]
    assert len(writes) == 1000
    assert_on_api(writes, api)
    for account_id in account_ids[::100]:
        assert stripe_branding(stack, api, account_id)["primary_color"] == color


async def delivered(stack: Stack, account_id: str, api: str) -> dict[str, Any] | None:
    """The newest account event about `account_id` the service stored (thin on v2)."""
    resp = await stack.client.get(
        "/v1/webhook-events",
        params={"account_id": account_id, "include_payload": "true", "limit": 100},
        headers=stack.headers,
    )
    assert resp.status_code == 200, resp.text
    wanted = "v2.core.account" if api == "v2" else "account.updated"
    rows = [r for r in resp.json()["data"] if r["type"].startswith(wanted)]
    assert all((r["source"] == "thin") == (api == "v2") for r in rows), rows
    return dict(rows[0]) if rows else None


@APIS
async def test_a_redelivered_event_is_stored_once_and_a_replay_reapplies_current_state(
    stack: Stack, api: str
) -> None:
    seller = await active_seller(stack, api)
    row = await _processed(stack, seller["id"], api)
    body = json.dumps(row["payload"])
    route, secret = (
        ("/v1/webhooks/stripe/thin", stack.thin_secret)
        if api == "v2"
        else ("/v1/webhooks/stripe/connect", stack.connect_secret)
    )
    again = await stack.client.post(
        route,
        content=body,
        headers={"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    replay = await stack.client.post(
        f"/v1/webhook-events/{row['id']}/replay", headers=stack.headers
    )
    assert replay.status_code == 200, replay.text
    replayed = await _processed(stack, seller["id"], api, event_id=row["id"], after=row)
    assert replayed["attempts"] == row["attempts"] + 1
    account = (await stack.client.get(f"/v1/accounts/{seller['id']}", headers=stack.headers)).json()
    assert account["onboarding"]["status"] == "active"


async def _processed(
    stack: Stack,
    account_id: str,
    api: str,
    *,
    event_id: str | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] | None = None
    for _ in range(200):
        if event_id is None:
            row = await delivered(stack, account_id, api)
        else:
            resp = await stack.client.get(f"/v1/webhook-events/{event_id}", headers=stack.headers)
            row = resp.json()
        if (
            row is not None
            and row["status"] == "processed"
            and (after is None or row["attempts"] > after["attempts"])
        ):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"no processed event for {account_id}: {row}")


@contextlib.asynccontextmanager
async def deployment_on(
    stack: Stack, database_url: str, accounts_api: str
) -> AsyncIterator[httpx.AsyncClient]:
    """Another service on the same database and sandbox, with STRIPE_ACCOUNTS_API set."""
    settings = make_settings(
        database_url=database_url,
        stripe_api_base=stack.sandbox.url,
        stripe_secret_key=stack.sandbox.secret_key,
        rate_limit_ops_per_s=2000.0,
        stripe_accounts_api=accounts_api,
    )
    runtime = Runtime.build(settings, role="api")
    server, task, url = await serve_app(create_app(settings, runtime=runtime))
    runtime.public_url = url
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=stack.headers) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        await runtime.aclose()


async def test_the_deployments_accounts_api_is_the_default_and_one_seller_can_differ(
    stack: Stack, own_database: str
) -> None:
    async with deployment_on(stack, own_database, "v2") as v2_deployment:
        resp = await v2_deployment.post("/v1/accounts", json=new_account())
        assert resp.status_code == 201, resp.text
        assert resp.json()["accounts_api"] == "v2"
        since = log_position(stack.sandbox)
        resp = await v2_deployment.post("/v1/accounts", json=new_account(accounts_api="v1"))
        assert resp.status_code == 201, resp.text
        assert resp.json()["accounts_api"] == "v1"
        creations = [
            r["path"]
            for r in sandbox_requests(stack.sandbox, since)
            if r["method"] == "POST" and r["path"] in ("/v1/accounts", "/v2/core/accounts")
        ]
        assert creations == ["/v1/accounts"]
    bad = await stack.client.post(
        "/v1/accounts", json=new_account(accounts_api="v3"), headers=stack.headers
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["param"] == "accounts_api"


async def test_a_v1_seller_moves_to_v2_once_stripe_serves_it_there(stack: Stack) -> None:
    faults = f"{stack.sandbox.url}/_sandbox/faults"
    # Stripe takes a while to serve a v1 account on /v2/core/accounts (minutes; here 2 s).
    httpx.post(faults, json={"v2_ready_delay_s": 2}).raise_for_status()
    try:
        seller = await active_seller(stack, "v1")
    finally:
        httpx.post(faults, json={"v2_ready_delay_s": 0}).raise_for_status()
    url = f"/v1/accounts/{seller['id']}"
    early = await stack.client.patch(url, json={"accounts_api": "v2"}, headers=stack.headers)
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "account_not_on_v2_yet"
    assert early.headers["retry-after"] == "60"
    unchanged = (await stack.client.get(url, headers=stack.headers)).json()
    assert unchanged["accounts_api"] == "v1"
    # Stripe's v2.core.account.created says when it is there; it lands in the inbox.
    created: list[dict[str, Any]] = []
    for _ in range(200):
        resp = await stack.client.get(
            "/v1/webhook-events",
            params={"account_id": seller["id"], "type": "v2.core.account.created"},
            headers=stack.headers,
        )
        created = resp.json()["data"]
        if created:
            break
        await asyncio.sleep(0.05)
    assert created and created[0]["source"] == "thin"
    moved = await stack.client.patch(url, json={"accounts_api": "v2"}, headers=stack.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["accounts_api"] == "v2"
    assert moved.json()["onboarding"]["status"] == "active"  # read back through v2
    # From now on its branding goes to configuration.merchant.branding.
    since = log_position(stack.sandbox)
    resp = await stack.client.patch(
        f"{url}/branding", json={"button_color": "#0B6E4F"}, headers=stack.headers
    )
    assert resp.status_code == 200, resp.text
    assert_on_api(account_calls(stack, since, seller["id"]), "v2")
    assert stripe_branding(stack, "v2", seller["id"])["primary_color"] == "#0B6E4F"
    audit = (
        await stack.client.get(
            "/v1/audit-events", params={"account_id": seller["id"]}, headers=stack.headers
        )
    ).json()["data"]
    assert any(
        e["action"] == "account.updated"
        and e["before"]["accounts_api"] == "v1"
        and e["after"]["accounts_api"] == "v2"
        for e in audit
    )
    # What is left to move is one filter away.
    staying = await create(stack, "v1")
    left = (
        await stack.client.get(
            "/v1/accounts", params={"accounts_api": "v1", "limit": 100}, headers=stack.headers
        )
    ).json()["data"]
    assert staying["id"] in {a["id"] for a in left}
    assert all(a["accounts_api"] == "v1" for a in left)
    assert seller["id"] not in {a["id"] for a in left}
    on_v2 = (
        await stack.client.get(
            "/v1/accounts", params={"accounts_api": "v2", "limit": 100}, headers=stack.headers
        )
    ).json()["data"]
    assert seller["id"] in {a["id"] for a in on_v2}


async def test_an_import_on_v2_takes_the_sellers_and_leaves_customer_accounts(
    stack: Stack,
) -> None:
    async with events_paused(stack):
        sellers = [
            stack.stripe.v2.core.accounts.create(
                {
                    "display_name": f"Imported {n}",
                    "contact_email": f"imported{n}@example.com",
                    "identity": {"country": "fr"},
                    "dashboard": "express",
                    "configuration": {
                        "merchant": {"capabilities": {"card_payments": {"requested": True}}}
                    },
                    "metadata": {"platform_charge_model": "destination"},
                }
            ).id
            for n in range(3)
        ]
        customer = stack.stripe.v2.core.accounts.create(
            {"contact_email": "buyer@example.com", "configuration": {"customer": {}}}
        ).id
        resp = await stack.client.post(
            "/v1/accounts/import", json={"accounts_api": "v2"}, headers=stack.headers
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["accounts_api"] == "v2"
        run: dict[str, Any] = {}
        for _ in range(300):
            run = (
                await stack.client.get(
                    f"/v1/accounts/imports/{resp.json()['id']}", headers=stack.headers
                )
            ).json()
            if run["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.05)
        assert run["status"] == "succeeded", run
    for account_id in sellers:
        account = (
            await stack.client.get(f"/v1/accounts/{account_id}", headers=stack.headers)
        ).json()
        assert account["accounts_api"] == "v2"
        assert account["charge_model"] == "destination"
        assert account["country"] == "FR"
        assert account["account_kind"] == "express"
    missing = await stack.client.get(f"/v1/accounts/{customer}", headers=stack.headers)
    assert missing.status_code == 404
