"""Thin (v2) event notifications in the webhook inbox: `POST /v1/webhooks/stripe/thin`,
processing, replay and reconciliation from `GET /v2/core/events`, end to end."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import stripe
import uvicorn
from redis.asyncio import Redis
from sqlalchemy import func, select

from platform_service.app import create_app
from platform_service.runtime import Runtime
from platform_service.sandbox.webhooks import sign
from platform_service.settings import Settings
from platform_service.webhooks import dispatch
from platform_service.webhooks.models import ReconcileCursor, WebhookEvent
from platform_service.webhooks.reconcile import V2_SCOPE
from tests.fixtures.app import serve_app
from tests.integration.test_webhooks import Calls, Inbox, make_event

THIN_SECRET = "whsec_thin_current"
THIN_OLD_SECRET = "whsec_thin_previous"
CONNECT_SECRET = "whsec_thin_connect"
PLATFORM_SECRET = "whsec_thin_platform"
ACCOUNT_UPDATED = "v2.core.account.updated"


@pytest.fixture(scope="module")
async def inbox(settings: Settings, migrated: str, redis_url: str) -> AsyncIterator[Inbox]:
    inbox_settings = msgspec.structs.replace(
        settings,
        redis_url=redis_url,
        job_queue_name=f"ps_test_thin_{secrets.token_hex(4)}",
        stripe_webhook_secrets=(PLATFORM_SECRET,),
        stripe_connect_webhook_secrets=(CONNECT_SECRET,),
        stripe_thin_webhook_secrets=(THIN_SECRET, THIN_OLD_SECRET),
    )
    runtime = Runtime.build(inbox_settings, role="api")
    worker_runtime = Runtime.build(inbox_settings, role="worker")
    server, task, url = await serve_app(create_app(inbox_settings, runtime=runtime))
    redis = Redis.from_url(redis_url)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Inbox(url, inbox_settings, runtime, worker_runtime, http, redis)
    server.should_exit = True
    await task
    await runtime.aclose()
    await worker_runtime.aclose()
    await redis.aclose()


@pytest.fixture(autouse=True)
async def empty_queue(inbox: Inbox) -> AsyncIterator[None]:
    yield
    await inbox.redis.delete(inbox.settings.job_queue_name)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Stands in for the accounts domain's handler, which fetches from Stripe."""
    calls = Calls()
    monkeypatch.setitem(dispatch.HANDLERS, ACCOUNT_UPDATED, [calls])
    return calls


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_thin(
    event_type: str = ACCOUNT_UPDATED,
    *,
    account: str | None = None,
    related: dict[str, str] | None = None,
    context: str | None = None,
    created: datetime | None = None,
    livemode: bool = False,
) -> dict[str, Any]:
    """A thin notification as an event destination sends it (no `data`, no `changes`)."""
    account = account or f"acct_thin_{secrets.token_hex(6)}"
    return {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "v2.core.event",
        "type": event_type,
        "created": iso(created or datetime.now(UTC)),
        "context": context,
        "livemode": livemode,
        "reason": {"type": "request", "request": {"id": "req_v2_1", "idempotency_key": "k"}},
        "related_object": related
        or {"id": account, "type": "v2.core.account", "url": f"/v2/core/accounts/{account}"},
    }


async def post(
    inbox: Inbox,
    event: dict[str, Any],
    *,
    path: str = "/v1/webhooks/stripe/thin",
    secret: str = THIN_SECRET,
    header: str | None = None,
) -> httpx.Response:
    body = json.dumps(event)
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": header if header is not None else sign(body, secret),
    }
    return await inbox.http.post(path, content=body.encode(), headers=headers)


async def count_rows(inbox: Inbox, event_id: str) -> int:
    async with inbox.runtime.session() as session:
        found = await session.scalar(
            select(func.count()).where(WebhookEvent.stripe_event_id == event_id)
        )
    return int(found or 0)


# -- delivery ------------------------------------------------------------------------


async def test_thin_notification_is_stored_once_then_processed_with_its_payload(
    inbox: Inbox, handler: Calls, admin_headers: dict[str, str]
) -> None:
    created = datetime.now(UTC).replace(microsecond=123000)
    event = make_thin(created=created)
    account = event["related_object"]["id"]
    response = await post(inbox, event)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "status": "pending"}
    assert await inbox.queued() == 1

    row = await inbox.row(event["id"])
    assert (row.source, row.type, row.status) == ("thin", ACCOUNT_UPDATED, "pending")
    assert row.account_id == account
    assert (row.object_id, row.object_type) == (account, "v2.core.account")
    assert row.created == created
    assert row.payload == event

    await inbox.run_worker()
    assert handler.seen[event["id"]] == 1
    row = await inbox.row(event["id"])
    assert row.status == "processed" and row.attempts == 1

    listed = await inbox.http.get(
        "/v1/webhook-events", params={"account_id": account}, headers=admin_headers
    )
    shown = listed.json()["data"]
    assert [(e["id"], e["type"], e["source"], e["object_type"]) for e in shown] == [
        (event["id"], ACCOUNT_UPDATED, "thin", "v2.core.account")
    ]


async def test_redelivery_is_acknowledged_as_a_duplicate_and_processed_once(
    inbox: Inbox, handler: Calls
) -> None:
    event = make_thin()
    first, second = await post(inbox, event), await post(inbox, event)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert await inbox.queued() == 1
    await inbox.run_worker()
    again = await post(inbox, event)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await inbox.queued() == 0
    assert handler.seen[event["id"]] == 1


async def test_a_type_nobody_handles_is_stored_unhandled(inbox: Inbox) -> None:
    event = make_thin("v2.core.account_person.created")
    response = await post(inbox, event)
    assert response.status_code == 200 and response.json()["status"] == "unhandled"
    assert await inbox.queued() == 0


async def test_the_context_is_the_account_when_the_object_is_not_an_account(
    inbox: Inbox,
) -> None:
    related = {"id": "person_1", "type": "v2.core.account_person", "url": "/v2/core/x/person_1"}
    event = make_thin("v2.core.account_person.updated", related=related, context="acct_ctx_1")
    assert (await post(inbox, event)).status_code == 200
    row = await inbox.row(event["id"])
    assert (row.account_id, row.object_id, row.object_type) == (
        "acct_ctx_1",
        "person_1",
        "v2.core.account_person",
    )


# -- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("", "missing_signature"),
        ("t=1,v1=deadbeef", "invalid_signature"),
        ("garbage", "invalid_signature"),
    ],
)
async def test_missing_or_bad_signature_is_400_and_nothing_is_stored(
    inbox: Inbox, header: str, code: str
) -> None:
    event = make_thin()
    response = await post(inbox, event, header=header)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert await count_rows(inbox, event["id"]) == 0


async def test_wrong_secret_stale_timestamp_and_tampered_body_are_refused(inbox: Inbox) -> None:
    event = make_thin()
    assert (await post(inbox, event, secret="whsec_someone_else")).status_code == 400
    body = json.dumps(event)
    stale = sign(body, THIN_SECRET, int(time.time()) - 3600)
    assert (await post(inbox, event, header=stale)).status_code == 400
    # Signed with the Connect endpoint's secret: each endpoint checks only its own.
    assert (await post(inbox, event, secret=CONNECT_SECRET)).status_code == 400
    tampered = await inbox.http.post(
        "/v1/webhooks/stripe/thin",
        content=body.replace(ACCOUNT_UPDATED, "v2.core.account.closed").encode(),
        headers={"Stripe-Signature": sign(body, THIN_SECRET)},
    )
    assert tampered.status_code == 400
    assert tampered.json()["error"]["code"] == "invalid_signature"
    assert await count_rows(inbox, event["id"]) == 0


async def test_rotation_accepts_the_previous_secret_and_a_header_with_both(
    inbox: Inbox, handler: Calls
) -> None:
    assert (await post(inbox, make_thin(), secret=THIN_OLD_SECRET)).status_code == 200
    both = make_thin()
    body = json.dumps(both)
    ts = int(time.time())
    header = f"{sign(body, THIN_OLD_SECRET, ts)},v1={sign(body, THIN_SECRET, ts).split(',v1=')[1]}"
    assert (await post(inbox, both, header=header)).status_code == 200


async def test_a_snapshot_event_sent_to_the_thin_endpoint_is_refused(inbox: Inbox) -> None:
    event = make_event("account.updated", account="acct_snap")
    response = await post(inbox, event)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert await count_rows(inbox, event["id"]) == 0


@pytest.mark.parametrize(
    ("path", "secret"),
    [("/v1/webhooks/stripe/connect", CONNECT_SECRET), ("/v1/webhooks/stripe", PLATFORM_SECRET)],
)
async def test_a_thin_notification_sent_to_a_snapshot_endpoint_is_refused(
    inbox: Inbox, path: str, secret: str
) -> None:
    event = make_thin()
    response = await post(inbox, event, path=path, secret=secret)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert await count_rows(inbox, event["id"]) == 0


async def test_without_a_thin_secret_every_notification_is_refused_with_503(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox.runtime, "thin_webhook_secrets", ())
    response = await post(inbox, make_thin())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhook_secret_not_configured"


async def test_a_live_notification_on_a_test_service_is_refused(inbox: Inbox) -> None:
    response = await post(inbox, make_thin(livemode=True))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "livemode_mismatch"


async def test_a_value_no_column_holds_is_a_400(inbox: Inbox) -> None:
    event = make_thin(account="acct_" + "x" * 100)
    response = await post(inbox, event)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_payload"
    assert await count_rows(inbox, event["id"]) == 0


# -- processing order, replay ---------------------------------------------------------------


async def test_an_older_notification_processed_after_a_newer_one_is_marked_stale(
    inbox: Inbox, handler: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = "v2.core.account[requirements].updated"
    monkeypatch.setitem(dispatch.HANDLERS, requirements, [handler])
    account = f"acct_order_{secrets.token_hex(4)}"
    now = datetime.now(UTC)
    newer = make_thin(account=account, created=now)
    older = make_thin(requirements, account=account, created=now - timedelta(milliseconds=5))
    assert (await post(inbox, newer)).status_code == 200
    await inbox.run_worker()
    assert (await post(inbox, older)).status_code == 200
    await inbox.run_worker()
    assert (await inbox.row(older["id"])).stale is True
    assert (await inbox.row(newer["id"])).stale is False
    # The account's v1 events share its version: an older account.updated is stale too.
    monkeypatch.setitem(dispatch.HANDLERS, "account.updated", [handler])
    snapshot = make_event(
        "account.updated",
        account=account,
        obj={"id": account, "object": "account"},
        created=int(now.timestamp()) - 60,
    )
    assert (
        await post(inbox, snapshot, path="/v1/webhooks/stripe/connect", secret=CONNECT_SECRET)
    ).status_code == 200
    await inbox.run_worker()
    late = await inbox.row(snapshot["id"])
    assert late.status == "processed" and late.stale is True


async def test_replay_one_and_by_filter_reprocess_thin_rows(
    inbox: Inbox, handler: Calls, admin_headers: dict[str, str]
) -> None:
    account = f"acct_replay_{secrets.token_hex(4)}"
    events = [make_thin(account=account) for _ in range(3)]
    for event in events:
        assert (await post(inbox, event)).status_code == 200
    await inbox.run_worker()
    one = await inbox.http.post(
        f"/v1/webhook-events/{events[0]['id']}/replay", headers=admin_headers
    )
    assert one.status_code == 200 and one.json()["status"] == "pending"
    await inbox.run_worker()
    assert handler.seen[events[0]["id"]] == 2
    matching = await inbox.http.post(
        "/v1/webhook-events/replay",
        json={"account_id": account, "type": ACCOUNT_UPDATED},
        headers=admin_headers,
    )
    assert matching.status_code == 200 and matching.json() == {"count": 3}
    await inbox.run_worker()
    assert [handler.seen[e["id"]] for e in events] == [3, 2, 2]
    for event in events:
        row = await inbox.row(event["id"])
        assert row.status == "processed" and row.payload == event


# -- reconciliation ----------------------------------------------------------------------------


def create_v2_customer_account(sandbox_client: stripe.StripeClient, name: str) -> str:
    account = sandbox_client.v2.core.accounts.create(
        {"display_name": name, "configuration": {"customer": {}}}
    )
    return account.id


async def test_reconcile_pulls_a_missed_thin_event_from_the_v2_event_list(
    inbox: Inbox,
    sandbox_client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls()
    # Every v2 event of the session is listed: none of them reaches the real handler here.
    for event_type in dispatch.V2_ACCOUNT_EVENTS:
        monkeypatch.setitem(dispatch.HANDLERS, event_type, [calls])
    # No event destination points at this service: the notification is never delivered.
    account = create_v2_customer_account(sandbox_client, "Missed thin event")
    listed = sandbox_client.v2.core.events.list({"object_id": account})
    missed = [e for e in listed.data if e.type == "v2.core.account.created"]
    assert len(missed) == 1
    missed_id = missed[0].id

    # Listed because the deployment uses v2 (or has a v2 account).
    v2 = msgspec.structs.replace(inbox.runtime.settings, stripe_accounts_api="v2")
    monkeypatch.setattr(inbox.runtime, "settings", v2)
    report = await inbox.reconcile(max_accounts=0, sync_accounts=False)
    assert report.events_inserted >= 1 and report.errors == 0
    row = await inbox.row(missed_id)
    assert (row.source, row.status, row.account_id) == ("reconcile", "pending", account)
    assert row.object_type == "v2.core.account"
    assert set(row.payload) == {
        "id",
        "object",
        "type",
        "created",
        "context",
        "livemode",
        "reason",
        "related_object",
    }
    assert row.payload["object"] == "v2.core.event"
    await inbox.run_worker()
    assert calls.seen[missed_id] == 1
    assert (await inbox.row(missed_id)).status == "processed"

    async with inbox.runtime.session() as session:
        assert await session.get(ReconcileCursor, V2_SCOPE) is not None
    again = await inbox.reconcile(max_accounts=0, sync_accounts=False)
    assert await count_rows(inbox, missed_id) == 1
    assert again.errors == 0


# -- the sandbox's event destinations ------------------------------------------------------------


async def wait_for_row(inbox: Inbox, event_id: str, timeout: float = 15) -> WebhookEvent:
    deadline = time.monotonic() + timeout
    while await count_rows(inbox, event_id) == 0:
        assert time.monotonic() < deadline, f"{event_id} was never delivered"
        await asyncio.sleep(0.05)
    return await inbox.row(event_id)


async def test_a_thin_event_the_sandbox_delivers_is_processed_by_the_accounts_handler(
    inbox: Inbox, sandbox_client: stripe.StripeClient, sandbox_admin: httpx.Client
) -> None:
    destination = {"url": f"{inbox.url}/v1/webhooks/stripe/thin", "secret": THIN_SECRET}
    sandbox_admin.post("/_sandbox/event_destinations", json=destination).raise_for_status()
    try:
        account = create_v2_customer_account(sandbox_client, "Delivered thin event")
        created = sandbox_client.v2.core.events.list(
            {"object_id": account, "types": ["v2.core.account.created"]}
        ).data
        assert len(created) == 1
        row = await wait_for_row(inbox, created[0].id)
    finally:
        sandbox_admin.delete("/_sandbox/event_destinations").raise_for_status()
    assert (row.source, row.status, row.account_id) == ("thin", "pending", account)
    assert "changes" not in row.payload and row.payload["object"] == "v2.core.event"
    # The real handler fetches the event and the account; a customer Account is no seller.
    await inbox.run_worker()
    row = await inbox.row(created[0].id)
    assert row.status == "processed", row.last_error


async def test_the_embedded_sandbox_delivers_thin_events_to_the_service(tmp_path: Path) -> None:
    from platform_service.db.migrate import upgrade
    from platform_service.jobs.queue import InProcessQueue
    from platform_service.settings import load_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(
        {}, database_url=f"sqlite:///{tmp_path / 'thin.sqlite3'}", sandbox_demo=False
    )
    assert settings.uses_local_sandbox
    await upgrade(settings.database_url)
    runtime = Runtime.build(settings, role="api", public_url=url)
    assert runtime.sandbox is not None and runtime.thin_webhook_secrets
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                await asyncio.sleep(0.01)
        account = await runtime.gateway.create_account_v2(
            {"display_name": "Embedded", "configuration": {"customer": {}}},
            idempotency_key=f"thin-embedded-{secrets.token_hex(4)}",
        )
        deadline = time.monotonic() + 15
        row = None
        while row is None:
            assert time.monotonic() < deadline, "the embedded sandbox never delivered"
            async with runtime.session() as session:
                row = await session.scalar(
                    select(WebhookEvent).where(
                        WebhookEvent.object_id == account["id"],
                        WebhookEvent.type == "v2.core.account.created",
                    )
                )
            await asyncio.sleep(0.05)
        assert row.source == "thin"
        assert isinstance(runtime.queue, InProcessQueue)
        await runtime.settle()
        await runtime.queue.drain()
        async with runtime.session() as session:
            status = await session.scalar(
                select(WebhookEvent.status).where(WebhookEvent.id == row.id)
            )
        assert status == "processed"
    finally:
        server.should_exit = True
        await task
        await runtime.aclose()
