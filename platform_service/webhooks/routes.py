"""`POST /v1/webhooks/stripe[/connect|/thin]` (Stripe) and `/v1/webhook-events` (admin)."""

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
from platform_service.deps import (
    AfterCommitDep,
    DbSession,
    WebhookIngress,
    WebhookIngressDep,
)
from platform_service.openapi import (
    ADMIN,
    BODY,
    CONFLICT,
    LOOKUP,
    PARAMS,
    WRITE,
    documented,
    error_response,
)
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
# Optional here so a missing header gets the service's 400, not a generic validation error.
SignatureHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Stripe-Signature",
        description="Stripe's signature of the exact body, checked against the endpoint's secrets.",
    ),
]
# What a delivery can be answered besides 200: Stripe retries anything else.
DELIVERY_ERRORS = documented(
    responses={
        400: error_response(
            400,
            "Refused: a missing or wrong `Stripe-Signature`, a body that is not the kind of "
            "Stripe event this endpoint takes (snapshot or thin), or a live-mode event sent to "
            "a test-mode service.",
            code="invalid_signature",
            message="The Stripe-Signature header does not match any configured secret.",
        ),
        503: error_response(
            503,
            "Not recorded: no signing secret is configured for this endpoint, or the database "
            "refused the commit. Stripe retries.",
        ),
    }
)


class StripeWebhookController(Controller):
    """Public (signature-verified) endpoints Stripe delivers to.

    The event row commits with the request's `db_session`; its job is queued
    after that commit, and the sweep queues it if the process dies in between.
    """

    path = "/v1/webhooks/stripe"
    tags = ["Webhooks"]
    security = [{}]

    @post(
        operation_id="ReceivePlatformWebhook",
        summary="Stripe events of the platform account",
        description="Stripe's deliveries for the platform's own webhook endpoint. The event "
        "is verified, stored once (a redelivery answers 200 with `duplicate: true`) and "
        "handled by a job after the response.",
        status_code=HTTP_200_OK,
        **DELIVERY_ERRORS,
    )
    async def receive_platform(
        self,
        body: RawBody,
        webhook_ingress: WebhookIngressDep,
        stripe_signature: SignatureHeader = None,
    ) -> WebhookAck:
        return await _receive(webhook_ingress, body, stripe_signature, EventSource.PLATFORM)

    @post(
        "/connect",
        operation_id="ReceiveConnectWebhook",
        summary="Stripe events of connected accounts (Connect endpoint)",
        description="Stripe's deliveries for the platform's Connect endpoint (events of "
        "connected accounts, carrying `account`). Verified, stored once and handled by a job.",
        status_code=HTTP_200_OK,
        **DELIVERY_ERRORS,
    )
    async def receive_connect(
        self,
        body: RawBody,
        webhook_ingress: WebhookIngressDep,
        stripe_signature: SignatureHeader = None,
    ) -> WebhookAck:
        return await _receive(webhook_ingress, body, stripe_signature, EventSource.CONNECT)

    @post(
        "/thin",
        operation_id="ReceiveThinEvent",
        summary="Thin (v2) event notifications (event destination)",
        description="Stripe's deliveries for the platform's event destination with thin "
        "payloads (`v2.core.event` notifications, e.g. `v2.core.account[requirements].updated`): "
        "they name the event and its related object but carry no data. Verified, stored once "
        "(a redelivery answers 200 with `duplicate: true`) and handled by a job that fetches "
        "the event and the object from Stripe. Snapshot events are refused here.",
        status_code=HTTP_200_OK,
        **DELIVERY_ERRORS,
    )
    async def receive_thin(
        self,
        body: RawBody,
        webhook_ingress: WebhookIngressDep,
        stripe_signature: SignatureHeader = None,
    ) -> WebhookAck:
        return await _receive(webhook_ingress, body, stripe_signature, EventSource.THIN)


async def _receive(
    ingress: WebhookIngress, body: bytes, signature: str | None, source: EventSource
) -> WebhookAck:
    # The signature covers the exact bytes Stripe sent: never a re-serialised body.
    recorded = await service.receive(ingress, body, signature, source)
    return WebhookAck(received=True, status=recorded.status, duplicate=recorded.duplicate)


class WebhookEventController(Controller):
    """The inbox for operators: what arrived, what failed, replay."""

    path = "/v1/webhook-events"
    guards = [admin_only]
    tags = ["Webhooks"]

    @get(
        operation_id="ListWebhookEvents",
        summary="Stored Stripe events, newest first",
        description="The webhook inbox: what arrived and how its handling went. Keyset pages "
        "on `starting_after` (an event id); payloads only with `include_payload=true`.",
        **documented(ADMIN, PARAMS),
    )
    async def list_webhook_events(
        self,
        db_session: DbSession,
        type: FromQuery[str | None] = None,
        account_id: FromQuery[str | None] = None,
        status: FromQuery[EventStatusName | None] = None,
        starting_after: FromQuery[str | None] = None,
        include_payload: FromQuery[bool] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> WebhookEventList:
        page = await service.list_events(
            db_session,
            limit=limit,
            starting_after=starting_after,
            type_=type,
            account_id=account_id,
            status=status,
        )
        return WebhookEventList(
            data=[event_out(r, with_payload=include_payload) for r in page.rows],
            has_more=page.has_more,
        )

    @get(
        "/{event_id:str}",
        operation_id="GetWebhookEvent",
        summary="One stored event",
        description="The event by its Stripe id (evt_…), with its payload.",
        **documented(ADMIN, LOOKUP),
    )
    async def get_webhook_event(self, db_session: DbSession, event_id: EventId) -> WebhookEventOut:
        row = await service.get_event(db_session, event_id)
        return event_out(row, with_payload=True)

    @post(
        "/{event_id:str}/replay",
        operation_id="ReplayWebhookEvent",
        summary="Process one event again",
        description="Queue the stored event for its handler again (after a fix, or a failure).",
        status_code=HTTP_200_OK,
        **documented(ADMIN, LOOKUP, CONFLICT, WRITE),
    )
    async def replay_webhook_event(
        self, db_session: DbSession, after_commit: AfterCommitDep, event_id: EventId
    ) -> WebhookEventOut:
        row = await service.replay_event(db_session, after_commit, event_id)
        return event_out(row, with_payload=False)

    @post(
        "/replay",
        operation_id="ReplayWebhookEvents",
        summary="Process every matching event again",
        description="Queue every stored event that matches the filter (at least one of type, "
        "status, account_id or since), up to `limit`; answers how many were queued.",
        status_code=HTTP_200_OK,
        **documented(ADMIN, BODY, WRITE),
    )
    async def replay_webhook_events(
        self,
        db_session: DbSession,
        after_commit: AfterCommitDep,
        data: JSONBody[WebhookReplayFilter],
    ) -> WebhookReplayResult:
        count = await service.replay_matching(
            db_session,
            after_commit,
            limit=data.limit,
            type_=data.type,
            account_id=data.account_id,
            status=data.status,
            since=data.since,
        )
        return WebhookReplayResult(count=count)
