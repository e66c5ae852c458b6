"""Signed webhook delivery to platform and Connect endpoints, in the background.

Routing follows Stripe: a platform event goes to the platform's non-Connect endpoints; an
event on a connected account goes to the platform's Connect endpoints (with `account`
set) and to endpoints the connected account registered itself, except the events only
the platform's application may hear of (`PLATFORM_ONLY`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from platform_service.sandbox.state import Delivery, SandboxState

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.2, 0.5, 1.0)  # seconds between attempts; Stripe's are hours apart
# A deauthorization tells the application that lost access; the seller's own endpoints
# belong to the seller, not to that application, and Stripe does not send it there.
PLATFORM_ONLY = frozenset({"account.application.deauthorized"})


@dataclass(frozen=True)
class StaticEndpoint:
    """An endpoint fixed at start (`--webhook URL=SECRET`) rather than registered by API."""

    url: str
    secret: str
    connect: bool
    events: tuple[str, ...] = ("*",)


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class WebhookDispatcher:
    def __init__(self, state: SandboxState, static: list[StaticEndpoint]) -> None:
        self.state = state
        self.static = static
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.listen()

    def listen(self) -> None:
        self.state.listeners.append(self._on_event)

    def payload(self, event: dict[str, Any]) -> str:
        """What is POSTed (and signed) for `event`."""
        return json.dumps(event)

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=5.0)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for task in list(self._tasks):
            task.cancel()
        if self._client:
            await self._client.aclose()

    def _on_event(self, event: dict[str, Any]) -> None:
        if self._queue is not None:
            self._queue.put_nowait(event)

    def targets(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        """(url, secret) of every endpoint this event goes to."""
        account = event["account"]
        out: list[tuple[str, str]] = []
        for static in self.static:
            if static.connect == (account is not None) and _wants(static.events, event):
                out.append((static.url, static.secret))
        owners = [(self.state.platform_id, account is not None)]
        if account is not None and event["type"] not in PLATFORM_ONLY:
            owners.append((account, False))
        for owner, connect in owners:
            scope = self.state.scopes.get(owner)
            if scope is None:
                continue
            for endpoint in scope.table("webhook_endpoints").values():
                if (
                    endpoint["status"] == "enabled"
                    and bool(endpoint["connect"]) == connect
                    and _wants(endpoint["enabled_events"] or [], event)
                ):
                    out.append((endpoint["url"], self.state.webhook_secrets[endpoint["id"]]))
        return out

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            for url, secret in self.targets(event):
                account = event.get("account", event.get("context"))
                delivery = Delivery(event["id"], event["type"], url, account)
                self.state.deliveries.append(delivery)
                task = asyncio.create_task(self._deliver(delivery, event, secret))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery, event: dict[str, Any], secret: str) -> None:
        assert self._client is not None
        payload = self.payload(event)
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            delivery.attempts = attempt + 1
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) platform_service-sandbox",
            }
            try:
                response = await self._client.post(delivery.url, content=payload, headers=headers)
            except httpx.HTTPError as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
                continue
            delivery.status = response.status_code
            if 200 <= response.status_code < 300:
                delivery.delivered = True
                delivery.error = None
                return
            delivery.error = f"HTTP {response.status_code}"
        log.info("webhook %s to %s failed: %s", delivery.event_id, delivery.url, delivery.error)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until queued events are handed out and in-flight deliveries finish."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self._queue is None or self._queue.empty()) and not self._tasks:
                return
            await asyncio.sleep(0.02)


def _wants(enabled: list[str] | tuple[str, ...], event: dict[str, Any]) -> bool:
    return "*" in enabled or event["type"] in enabled
