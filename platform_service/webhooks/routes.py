"""`POST /v1/webhooks/stripe[/connect]` (Stripe) and `/v1/webhook-events` (admin)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import (
    FromPath,
    FromQuery,
    HeaderParameter,
    JSONBody,
    QueryParameter,
    RawBody,
)
from litestar.status_codes import HTTP_200_OK

from platform_service.auth.guard import admin_only
from platform_service.deps import QueueDep, RuntimeDep
from platform_service.jobs.queue import JobQueue
from platform_service.webhooks import service
from platform_service.webhooks.models import EventSource
from platform_service.webhooks.schemas import (
    EventStatusName,
    WebhookAck,
    WebhookEventList,
    WebhookEventOut,
    WebhookReplayFilter,
    WebhookReplayResult,
    event_out,
)

EventId = FromPath[str]
# A Protocol: nothing to validate, and msgspec cannot isinstance-check it.
# Optional here so a missing header gets the service's 400, not a generic validation error.
SignatureHeader = Annotated[str | None, HeaderParameter(name="Stripe-Signature")]


async def _receive(
    body: bytes, signature: str | None, runtime: RuntimeDep, queue: JobQueue, source: EventSource
) -> WebhookAck:
    recorded = await service.receive(runtime, queue, body, signature, source=source)
    return WebhookAck(received=True, status=recorded.status, duplicate=recorded.duplicate)


class StripeWebhookController(Controller):
    """Public (signature-verified) endpoints Stripe delivers to."""

    path = "/v1/webhooks/stripe"
    tags = ["Webhooks"]
    security = [{}]

    @post(
        operation_id="ReceivePlatformWebhook",
        summary="Stripe events of the platform account",
        status_code=HTTP_200_OK,
    )
    async def receive_platform(
        self,
        body: RawBody,
        runtime: RuntimeDep,
        queue: QueueDep,
        stripe_signature: SignatureHeader = None,
    ) -> WebhookAck:
        # The signature covers the exact bytes Stripe sent: never a re-serialised body.
        return await _receive(body, stripe_signature, runtime, queue, EventSource.PLATFORM)

    @post(
        "/connect",
        operation_id="ReceiveConnectWebhook",
        summary="Stripe events of connected accounts (Connect endpoint)",
        status_code=HTTP_200_OK,
    )
    async def receive_connect(
        self,
        body: RawBody,
        runtime: RuntimeDep,
        queue: QueueDep,
        stripe_signature: SignatureHeader = None,
    ) -> WebhookAck:
        return await _receive(body, stripe_signature, runtime, queue, EventSource.CONNECT)


class WebhookEventController(Controller):
    """The inbox for operators: what arrived, what failed, replay."""

    path = "/v1/webhook-events"
    guards = [admin_only]
    tags = ["Webhooks"]

    @get(operation_id="ListWebhookEvents", summary="Stored Stripe events, newest first")
    async def list_webhook_events(
        self,
        runtime: RuntimeDep,
        type: FromQuery[str | None] = None,
        account_id: FromQuery[str | None] = None,
        status: FromQuery[EventStatusName | None] = None,
        starting_after: FromQuery[str | None] = None,
        include_payload: FromQuery[bool] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> WebhookEventList:
        async with runtime.session() as session:
            rows, has_more = await service.list_events(
                session,
                limit=limit,
                starting_after=starting_after,
                type_=type,
                account_id=account_id,
                status=status,
            )
        return WebhookEventList(
            data=[event_out(r, with_payload=include_payload) for r in rows], has_more=has_more
        )

    @get("/{event_id:str}", operation_id="GetWebhookEvent", summary="One stored event")
    async def get_webhook_event(self, runtime: RuntimeDep, event_id: EventId) -> WebhookEventOut:
        async with runtime.session() as session:
            row = await service.get_event(session, event_id)
        return event_out(row, with_payload=True)

    @post(
        "/{event_id:str}/replay",
        operation_id="ReplayWebhookEvent",
        summary="Process one event again",
        status_code=HTTP_200_OK,
    )
    async def replay_webhook_event(
        self, runtime: RuntimeDep, queue: QueueDep, event_id: EventId
    ) -> WebhookEventOut:
        # Own transaction: the job is enqueued only once the reset is committed.
        async with runtime.session() as session, session.begin():
            row = await service.replay_event(session, event_id)
        await service.enqueue_quietly(queue, [row.id])
        return event_out(row, with_payload=False)

    @post(
        "/replay",
        operation_id="ReplayWebhookEvents",
        summary="Process every matching event again",
        status_code=HTTP_200_OK,
    )
    async def replay_webhook_events(
        self, runtime: RuntimeDep, queue: QueueDep, data: JSONBody[WebhookReplayFilter]
    ) -> WebhookReplayResult:
        async with runtime.session() as session, session.begin():
            ids = await service.replay_matching(
                session,
                limit=data.limit,
                type_=data.type,
                account_id=data.account_id,
                status=data.status,
                since=data.since,
            )
        await service.enqueue_quietly(queue, ids)
        return WebhookReplayResult(count=len(ids))
