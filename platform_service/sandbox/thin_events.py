"""Thin event notifications to event destinations, signed and retried like webhooks.

A notification is the v2 event without its `changes` or `data`: receivers verify it
(`StripeClient.parse_event_notification`) and fetch the full event and the related
object themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from platform_service.sandbox.state import SandboxState
from platform_service.sandbox.webhooks import WebhookDispatcher

_FULL_ONLY = ("changes", "data")


@dataclass(frozen=True)
class EventDestination:
    """A destination fixed at start (`--event-destination URL=SECRET`)."""

    url: str
    secret: str
    events: tuple[str, ...] = ("*",)


def notification(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in _FULL_ONLY}


class ThinEventDispatcher(WebhookDispatcher):
    def __init__(self, state: SandboxState, static: list[EventDestination]) -> None:
        self.destinations = static
        super().__init__(state, [])

    def listen(self) -> None:
        self.state.v2_listeners.append(self._on_event)

    def payload(self, event: dict[str, Any]) -> str:
        return json.dumps(notification(event))

    def targets(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        registered = [EventDestination(url, secret, events)
                      for url, secret, events in self.state.event_destinations]  # fmt: skip
        return [
            (d.url, d.secret)
            for d in [*self.destinations, *registered]
            if "*" in d.events or event["type"] in d.events
        ]
