"""The sandbox's in-memory world: one `Scope` of objects per Stripe account.

Objects are kept as the JSON dicts the API returns, because that is what every reader
(responses, events, pages) wants; handlers mutate them in place. Everything runs on the
server's single event loop, so plain dicts need no locks; the per-object write locks in
`faults.py` exist only to imitate Stripe's `lock_timeout`.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ALPHABET = string.ascii_letters + string.digits

EventListener = Callable[[dict[str, Any]], None]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


@dataclass
class Scope:
    """Everything one Stripe account (the platform or a connected account) owns."""

    account_id: str
    collections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    default_portal_configuration: str | None = None

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.collections.setdefault(kind, {})

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self.collections.get(kind, {}).get(object_id)

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.table(kind)[obj["id"]] = obj
        return obj


@dataclass
class IdempotencyRecord:
    method: str
    path: str
    params: Any
    status: int | None = None  # None while the first request is still running
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Delivery:
    event_id: str
    event_type: str
    url: str
    account: str | None
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False


class SandboxState:
    def __init__(self, platform_id: str | None = None) -> None:
        self.platform_id = platform_id or new_id("acct_", 16)
        self.listeners: list[EventListener] = []
        self.v2_listeners: list[EventListener] = []
        self.reset()

    def reset(self) -> None:
        """Forget every object, log and counter; the platform account id is kept."""
        self.scopes: dict[str, Scope] = {self.platform_id: Scope(self.platform_id)}
        self.platform_account: dict[str, Any] = _platform_account(self.platform_id)
        self.file_blobs: dict[str, bytes] = {}
        self.account_links: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        # login page token -> (scope, configuration id); see resources/portal.py.
        self.login_pages: dict[str, tuple[str, str]] = {}
        self.request_log: list[dict[str, Any]] = []
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.applied: Counter[str] = Counter()
        self.webhook_secrets: dict[str, str] = {}
        self.deliveries: list[Delivery] = []
        self.deauthorized: set[str] = set()
        # Accounts v2 (v2_accounts.py): the v2-only part of each account, keyed by id.
        self.v2_accounts: dict[str, dict[str, Any]] = {}
        self.v2_events: dict[str, dict[str, Any]] = {}  # thin events, oldest first
        # (url, secret, event types or ("*",)) registered by `POST /_sandbox/event_destinations`
        self.event_destinations: list[tuple[str, str, tuple[str, ...]]] = []
        # The API request being served, for the `reason` of the thin events it causes.
        self.current_request: tuple[str, str | None] | None = None

    @property
    def platform(self) -> Scope:
        return self.scopes[self.platform_id]

    def accounts(self) -> dict[str, dict[str, Any]]:
        """Connected accounts live in the platform's scope, as on Stripe."""
        return self.platform.table("accounts")

    def scope_for(self, account_id: str) -> Scope:
        return self.scopes.setdefault(account_id, Scope(account_id))

    def is_connected(self, account_id: str) -> bool:
        return account_id in self.accounts() and account_id not in self.deauthorized

    def emit(
        self,
        account_id: str,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event on the account that owns `obj` and hand it to the listeners."""
        connected = account_id != self.platform_id
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: dict[str, Any] = {
            "id": new_id("evt_"),
            "object": "event",
            "account": account_id if connected else None,
            "api_version": "2026-10-28.endive",
            "context": account_id if connected else None,
            "created": now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.scope_for(account_id).put("events", event)
        for listener in self.listeners:
            listener(event)
        return event


def _platform_account(account_id: str) -> dict[str, Any]:
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {"name": "Sandbox Platform", "url": None, "support_email": None},
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "US",
        "created": now(),
        "default_currency": "usd",
        "details_submitted": True,
        "email": "platform@example.com",
        "metadata": {},
        "payouts_enabled": True,
        "settings": {
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": "#635BFF",
                "secondary_color": "#0A2540",
            }
        },
        "type": "standard",
    }
