"""Onboarding states reached the way production reaches them: the seller finishes (or half
finishes) Stripe's hosted onboarding, Stripe sends signed Connect webhooks, the service
processes them and the account's state follows, with no manual sync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from platform_service.app import create_app
from platform_service.auth.keys import create_key
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.app import make_settings, serve_app
from tests.fixtures.sandbox import client_for
from tests.integration.test_accounts import create


@dataclass
class Stack:
    client: httpx.AsyncClient
    headers: dict[str, str]
    sandbox: SandboxServer
    stripe: stripe.StripeClient


@pytest.fixture(scope="module")
async def stack(pg_url: str, migrated: str) -> AsyncIterator[Stack]:
    # A sandbox of its own: its webhook endpoint must not reach other tests' apps.
    with SandboxServer(SandboxConfig()) as sandbox:
        settings = make_settings(
            database_url=pg_url,
            stripe_api_base=sandbox.url,
            stripe_secret_key=sandbox.secret_key,
            rate_limit_ops_per_s=2000.0,
        )
        runtime = Runtime.build(settings, role="api")
        server, task, url = await serve_app(create_app(settings, runtime=runtime))
        runtime.public_url = url
        sdk = client_for(sandbox)
        # Registered the Stripe way; the signing secret comes back on create.
        endpoint = sdk.v1.webhook_endpoints.create(
            {"url": f"{url}/v1/webhooks/stripe/connect", "enabled_events": ["*"], "connect": True}
        )
        runtime.connect_webhook_secrets = (str(endpoint.secret),)
        async with runtime.session() as session, session.begin():
            _, key = await create_key(session, role="admin")
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Stack(client, {"Authorization": f"Bearer {key}"}, sandbox, sdk)
        server.should_exit = True
        await task
        await runtime.aclose()


async def wait_for_status(stack: Stack, account_id: str, status: str) -> dict[str, Any]:
    account: dict[str, Any] = {}
    for _ in range(150):
        account = (
            await stack.client.get(f"/v1/accounts/{account_id}", headers=stack.headers)
        ).json()
        if account["onboarding"]["status"] == status:
            return account
        await asyncio.sleep(0.1)
    raise AssertionError(f"{account_id} never reached {status}: {account['onboarding']}")


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
async def test_hosted_onboarding_then_webhooks_move_the_state(
    stack: Stack, outcome: str, status: str
) -> None:
    account = await create(stack.client, stack.headers)
    link = await stack.client.post(
        f"/v1/accounts/{account['id']}/onboarding-links",
        json={"return_url": "https://platform.example/done"},
        headers=stack.headers,
    )
    assert link.status_code == 201, link.text
    await wait_for_status(stack, account["id"], "in_progress")
    if outcome in ("complete", "requirements_due"):
        # The seller presses one of the hosted page's buttons.
        async with httpx.AsyncClient() as browser:
            pressed = await browser.post(link.json()["url"], data={"outcome": outcome})
            assert pressed.status_code in (200, 302, 303), pressed.text
    else:
        # Stripe's review decides these, later (the sandbox's test-mode control).
        httpx.post(
            f"{stack.sandbox.url}/_sandbox/accounts/{account['id']}/onboarding",
            json={"outcome": outcome},
        ).raise_for_status()
    # Nothing but Stripe's webhooks tells the service.
    reached = await wait_for_status(stack, account["id"], status)
    events = (
        await stack.client.get(
            "/v1/webhook-events",
            params={"account_id": account["id"], "type": "account.updated"},
            headers=stack.headers,
        )
    ).json()["data"]
    assert events
    assert all(e["status"] in ("processed", "pending", "processing") for e in events)
    assert reached["synced_at"]


async def test_deauthorization_webhook_disconnects_the_account(stack: Stack) -> None:
    account = await create(stack.client, stack.headers)
    httpx.post(
        f"{stack.sandbox.url}/_sandbox/accounts/{account['id']}/deauthorize"
    ).raise_for_status()
    await wait_for_status(stack, account["id"], "disconnected")
