"""Connected accounts through the HTTP API, against the local Stripe sandbox."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
import stripe

from platform_service.accounts import events
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from tests.fixtures.app import KeyMaker, seller_headers


def new_account(**overrides: Any) -> dict[str, Any]:
    ref = f"seller-{secrets.token_hex(4)}"
    body = {
        "external_ref": ref,
        "email": f"{ref}@example.com",
        "country": "FR",
        "business_name": f"Shop {ref}",
        "charge_model": "direct",
    }
    body.update(overrides)
    return body


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    resp = await client.post("/v1/accounts", json=new_account(**overrides), headers=headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def sandbox_requests(sandbox: SandboxServer, since: int = 0) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sandbox.url}/_sandbox/requests", params={"since": since}).json())


def drive(sandbox: SandboxServer, account_id: str, outcome: str) -> None:
    resp = httpx.post(
        f"{sandbox.url}/_sandbox/accounts/{account_id}/onboarding", json={"outcome": outcome}
    )
    assert resp.status_code == 200, resp.text


async def test_create_returns_the_account_with_its_onboarding_state(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = new_account(metadata={"tier": "gold"}, account_kind="express")
    resp = await client.post("/v1/accounts", json=body, headers=admin_headers)
    assert resp.status_code == 201, resp.text
    account = resp.json()
    assert account["id"].startswith("acct_")
    assert account["external_ref"] == body["external_ref"]
    assert account["charge_model"] == "direct"
    assert account["metadata"] == {"tier": "gold"}
    assert account["onboarding"]["status"] == "not_started"
    assert account["onboarding"]["next_action"] == "start_onboarding"


async def test_same_external_ref_returns_the_existing_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox: SandboxServer
) -> None:
    body = new_account()
    first = await client.post("/v1/accounts", json=body, headers=admin_headers)
    second = await client.post("/v1/accounts", json=body, headers=admin_headers)
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    creates = [
        r
        for r in sandbox_requests(sandbox)
        if r["method"] == "POST"
        and r["path"] == "/v1/accounts"
        and (r["params"].get("metadata") or {}).get("platform_external_ref") == body["external_ref"]
    ]
    assert len(creates) == 1


async def test_concurrent_double_create_makes_one_stripe_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox_client: stripe.StripeClient
) -> None:
    body = new_account()
    responses = await asyncio.gather(
        *(client.post("/v1/accounts", json=body, headers=admin_headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    on_stripe = [
        a
        for a in sandbox_client.v1.accounts.list({"limit": 100}).auto_paging_iter()
        if (a.to_dict().get("metadata") or {}).get("platform_external_ref") == body["external_ref"]
    ]
    assert len(on_stripe) == 1


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("country", "ZZ", "country"),
        ("country", "fr", "country"),
        ("email", "not-an-email", "email"),
        ("charge_model", "barter", "charge_model"),
        ("colour", "red", "colour"),
        ("business_name", "", "business_name"),
    ],
)
async def test_invalid_input_is_422_with_param(
    client: httpx.AsyncClient, admin_headers: dict[str, str], field: str, value: str, param: str
) -> None:
    resp = await client.post(
        "/v1/accounts", json=new_account(**{field: value}), headers=admin_headers
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["param"] == param
    assert error["message"]


async def test_missing_field_is_422_with_param(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = new_account()
    del body["email"]
    resp = await client.post("/v1/accounts", json=body, headers=admin_headers)
    assert resp.status_code == 422
    assert resp.json()["error"]["param"] == "email"


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("complete", "active"),
        ("requirements_due", "action_required"),
        ("under_review", "under_review"),
        ("restricted", "restricted"),
        ("rejected", "rejected"),
    ],
)
async def test_each_onboarding_outcome_reaches_its_state(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    outcome: str,
    status: str,
) -> None:
    account = await create(client, admin_headers)
    drive(sandbox, account["id"], outcome)
    resp = await client.post(f"/v1/accounts/{account['id']}/sync", headers=admin_headers)
    assert resp.status_code == 200, resp.text
    onboarding = resp.json()["onboarding"]
    assert onboarding["status"] == status
    if status == "action_required":
        assert onboarding["due_fields"]
        assert onboarding["deadline"]
    if status == "restricted":
        assert onboarding["disabled_reason"] == "requirements.past_due"


async def test_onboarding_link_then_the_sandbox_page_completes_onboarding(
    client: httpx.AsyncClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    account = await create(client, admin_headers)
    resp = await client.post(
        f"/v1/accounts/{account['id']}/onboarding-links",
        json={"type": "onboarding", "return_url": "https://platform.example/done"},
        headers=admin_headers,
    )
    assert resp.status_code == 201, resp.text
    link = resp.json()
    assert link["url"] and link["expires_at"]
    state = (await client.get(f"/v1/accounts/{account['id']}", headers=admin_headers)).json()
    assert state["onboarding"]["status"] == "in_progress"
    # The hosted page's "complete" button, as a seller would press it.
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(link["url"])
        assert page.status_code == 200
        assert "Sandbox" in page.text
        done = await browser.post(link["url"], data={"outcome": "complete"})
        assert done.status_code in (200, 302, 303), done.text
    synced = await client.post(f"/v1/accounts/{account['id']}/sync", headers=admin_headers)
    assert synced.json()["onboarding"]["status"] == "active"


async def test_refresh_url_mints_a_fresh_link(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox: SandboxServer
) -> None:
    account = await create(client, admin_headers)
    mark = len(sandbox_requests(sandbox))
    resp = await client.post(
        f"/v1/accounts/{account['id']}/onboarding-links",
        json={"return_url": "https://platform.example/done"},
        headers=admin_headers,
    )
    assert resp.status_code == 201
    link_call = next(r for r in sandbox_requests(sandbox, mark) if r["path"] == "/v1/account_links")
    refresh_url = link_call["params"]["refresh_url"]
    assert refresh_url.startswith(str(client.base_url))
    redirect = await client.get(refresh_url.removeprefix(str(client.base_url)))
    assert redirect.status_code == 303
    assert redirect.headers["location"].startswith(sandbox.url)
    assert redirect.headers["location"] != resp.json()["url"]
    bad = await client.get(
        f"/accounts/{account['id']}/onboarding/refresh", params={"token": "nope"}
    )
    assert bad.status_code == 404


async def test_update_links_only_for_custom_accounts(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    express = await create(client, admin_headers)
    resp = await client.post(
        f"/v1/accounts/{express['id']}/onboarding-links",
        json={"type": "update", "return_url": "https://platform.example/done"},
        headers=admin_headers,
    )
    assert resp.status_code == 409
    assert resp.json()["error"]["param"] == "type"
    custom = await create(client, admin_headers, account_kind="custom")
    resp = await client.post(
        f"/v1/accounts/{custom['id']}/onboarding-links",
        json={"type": "update", "return_url": "https://platform.example/done"},
        headers=admin_headers,
    )
    assert resp.status_code == 201, resp.text
    bad = await client.post(
        f"/v1/accounts/{custom['id']}/onboarding-links",
        json={"return_url": "http://evil.example/x"},
        headers=admin_headers,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["param"] == "return_url"


def _events_for(
    sandbox_client: stripe.StripeClient, account_id: str, type_: str
) -> list[dict[str, Any]]:
    found = sandbox_client.v1.events.list(
        {"limit": 100, "type": type_}, {"stripe_account": account_id}
    )
    return [e.to_dict(recursive=True) for e in found.data]


async def test_out_of_order_account_updated_never_regresses(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    runtime: Runtime,
) -> None:
    account = await create(client, admin_headers)
    drive(sandbox, account["id"], "requirements_due")
    drive(sandbox, account["id"], "complete")
    updates = sorted(
        _events_for(sandbox_client, account["id"], "account.updated"), key=lambda e: e["created"]
    )
    assert len(updates) >= 2
    newest, oldest = updates[-1], updates[0]
    for event in (newest, oldest, oldest):  # late and duplicated delivery
        async with runtime.session() as session, session.begin():
            await events.on_account_updated(session, runtime.job_context(), event)
    state = (await client.get(f"/v1/accounts/{account['id']}", headers=admin_headers)).json()
    assert state["onboarding"]["status"] == "active"


async def test_deauthorization_marks_the_account_disconnected(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    runtime: Runtime,
) -> None:
    account = await create(client, admin_headers)
    httpx.post(f"{sandbox.url}/_sandbox/accounts/{account['id']}/deauthorize").raise_for_status()
    event = {
        "id": "evt_test",
        "type": "account.application.deauthorized",
        "account": account["id"],
        "data": {"object": {"object": "application"}},
    }
    async with runtime.session() as session, session.begin():
        await events.on_account_deauthorized(session, runtime.job_context(), event)
    state = (await client.get(f"/v1/accounts/{account['id']}", headers=admin_headers)).json()
    assert state["onboarding"]["status"] == "disconnected"
    assert state["disconnected_at"]


async def _wait_import(
    client: httpx.AsyncClient, headers: dict[str, str], import_id: str
) -> dict[str, Any]:
    for _ in range(200):
        run = (await client.get(f"/v1/accounts/imports/{import_id}", headers=headers)).json()
        if run["status"] in ("succeeded", "failed"):
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"import {import_id} did not finish: {run}")


async def test_import_upserts_accounts_created_directly_on_stripe(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox_client: stripe.StripeClient
) -> None:
    made = [
        sandbox_client.v1.accounts.create(
            {
                "country": "US",
                "email": f"direct{i}@example.com",
                "business_profile": {"name": f"Direct {i}"},
                "controller": {
                    "stripe_dashboard": {"type": "express"},
                    "fees": {"payer": "application"},
                    "losses": {"payments": "application"},
                },
            }
        ).id
        for i in range(3)
    ]
    resp = await client.post(
        "/v1/accounts/import", json={"charge_model": "destination"}, headers=admin_headers
    )
    assert resp.status_code == 202, resp.text
    first = await _wait_import(client, admin_headers, resp.json()["id"])
    assert first["status"] == "succeeded", first
    assert first["seen"] >= 3
    for account_id in made:
        got = (await client.get(f"/v1/accounts/{account_id}", headers=admin_headers)).json()
        assert got["charge_model"] == "destination"
        assert got["email"].startswith("direct")
    again = await client.post("/v1/accounts/import", headers=admin_headers)
    second = await _wait_import(client, admin_headers, again.json()["id"])
    assert second["status"] == "succeeded"
    assert second["created"] == 0
    assert second["seen"] == first["seen"] + (second["seen"] - first["seen"])


async def test_pagination_and_filters(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tag = secrets.token_hex(3)
    made = [
        await create(
            client,
            admin_headers,
            business_name=f"Paged {tag} {i}",
            country="DE" if i % 2 else "FR",
            charge_model="destination" if i % 2 else "direct",
        )
        for i in range(5)
    ]
    ids = [m["id"] for m in reversed(made)]  # newest first
    page1 = (
        await client.get(
            "/v1/accounts", params={"q": f"paged {tag}", "limit": 2}, headers=admin_headers
        )
    ).json()
    assert [a["id"] for a in page1["data"]] == ids[:2]
    assert page1["has_more"] is True
    page2 = (
        await client.get(
            "/v1/accounts",
            params={"q": f"paged {tag}", "limit": 2, "starting_after": ids[1]},
            headers=admin_headers,
        )
    ).json()
    assert [a["id"] for a in page2["data"]] == ids[2:4]
    page3 = (
        await client.get(
            "/v1/accounts",
            params={"q": f"paged {tag}", "limit": 2, "starting_after": ids[3]},
            headers=admin_headers,
        )
    ).json()
    assert [a["id"] for a in page3["data"]] == ids[4:]
    assert page3["has_more"] is False
    german = (
        await client.get("/v1/accounts", params={"q": tag, "country": "DE"}, headers=admin_headers)
    ).json()
    assert {a["id"] for a in german["data"]} == {made[1]["id"], made[3]["id"]}
    direct = (
        await client.get(
            "/v1/accounts",
            params={"q": tag, "charge_model": "direct", "status": "not_started"},
            headers=admin_headers,
        )
    ).json()
    assert {a["id"] for a in direct["data"]} == {made[0]["id"], made[2]["id"], made[4]["id"]}
    by_email = (
        await client.get(
            "/v1/accounts", params={"q": made[2]["email"].upper()}, headers=admin_headers
        )
    ).json()
    assert [a["id"] for a in by_email["data"]] == [made[2]["id"]]
    bad = await client.get("/v1/accounts", params={"limit": 101}, headers=admin_headers)
    assert bad.status_code == 422
    bad_status = await client.get(
        "/v1/accounts", params={"status": "sleeping"}, headers=admin_headers
    )
    assert bad_status.status_code == 422
    assert bad_status.json()["error"]["param"] == "status"
    # A cursor naming no account is refused, never read as "start over".
    bad_cursor = await client.get(
        "/v1/accounts", params={"starting_after": "acct_doesnotexist"}, headers=admin_headers
    )
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"]["param"] == "starting_after"


async def test_seller_sees_only_their_own_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyMaker
) -> None:
    mine = await create(client, admin_headers)
    theirs = await create(client, admin_headers)
    headers = await seller_headers(make_key, mine["id"])
    assert (await client.get(f"/v1/accounts/{mine['id']}", headers=headers)).status_code == 200
    other = await client.get(f"/v1/accounts/{theirs['id']}", headers=headers)
    missing = await client.get("/v1/accounts/acct_doesnotexist", headers=headers)
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "resource_missing"
    link = await client.post(
        f"/v1/accounts/{theirs['id']}/onboarding-links",
        json={"return_url": "https://x.example/"},
        headers=headers,
    )
    assert link.status_code == 404
    assert (await client.get("/v1/accounts", headers=headers)).status_code == 403
    assert (
        await client.post("/v1/accounts", json=new_account(), headers=headers)
    ).status_code == 403
    own_link = await client.post(
        f"/v1/accounts/{mine['id']}/onboarding-links",
        json={"return_url": "https://x.example/"},
        headers=headers,
    )
    assert own_link.status_code == 201


async def test_patch_and_the_audit_log(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox_client: stripe.StripeClient
) -> None:
    account = await create(client, admin_headers)
    resp = await client.patch(
        f"/v1/accounts/{account['id']}",
        json={"charge_model": "destination_on_behalf_of", "business_name": "Renamed Shop"},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["charge_model"] == "destination_on_behalf_of"
    assert (
        sandbox_client.v1.accounts.retrieve(account["id"]).business_profile.name == "Renamed Shop"
    )
    bad = await client.patch(
        f"/v1/accounts/{account['id']}", json={"charge_model": "nope"}, headers=admin_headers
    )
    assert bad.status_code == 422
    log = (
        await client.get(
            "/v1/audit-events", params={"account_id": account["id"]}, headers=admin_headers
        )
    ).json()
    actions = [e["action"] for e in log["data"]]
    assert actions[:2] == ["account.updated", "account.created"]
    updated = log["data"][0]
    assert updated["before"]["charge_model"] == "direct"
    assert updated["after"]["charge_model"] == "destination_on_behalf_of"
    assert updated["actor"].startswith("admin:")


async def test_q_an_email_finds_that_account_exactly_and_a_fragment_searches(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    tag = secrets.token_hex(3)
    bob = await create(client, admin_headers, email=f"bob.{tag}@example.com")
    jimbob = await create(client, admin_headers, email=f"jimbob.{tag}@example.com")

    async def found(q: str) -> set[str]:
        resp = await client.get("/v1/accounts", params={"q": q}, headers=admin_headers)
        assert resp.status_code == 200, resp.text
        return {a["id"] for a in resp.json()["data"]}

    # A whole address is that seller (case-insensitive), not every address containing it.
    assert await found(f"Bob.{tag}@Example.COM") == {bob["id"]}
    assert await found(f"  jimbob.{tag}@example.com ") == {jimbob["id"]}
    assert await found(f"nobody.{tag}@example.com") == set()
    # Anything else is still a substring search over name, email and external_ref.
    assert await found(f"bob.{tag}") == {bob["id"], jimbob["id"]}
    assert await found(f"{tag}@example") == {bob["id"], jimbob["id"]}
