"""Helpers for the gateway tests: the sandbox's admin API, keys, accounts, images."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
from PIL import Image

from platform_service.stripe.gateway import StripeGateway


class SandboxAdmin:
    """The sandbox's `/_sandbox/` admin API, for arranging faults and reading what was sent."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def mark(self) -> int:
        return len(self.http.get("/_sandbox/requests").json())

    def requests_since(self, mark: int, path: str | None = None) -> list[dict[str, Any]]:
        entries = self.http.get("/_sandbox/requests", params={"since": mark}).json()
        return [e for e in entries if path is None or e["path"] == path]

    def faults(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post("/_sandbox/faults", json=changes)
        response.raise_for_status()
        return response.json()

    def inject(self, kind: str, count: int, *, method: str, path: str) -> None:
        self.faults(next=[{"kind": kind, "count": count, "method": method, "path": path}])

    def applied(self, key: str) -> int:
        return int(self.http.get("/_sandbox/idempotency").json().get(key, 0))

    def deauthorize(self, account_id: str) -> None:
        self.http.post(f"/_sandbox/accounts/{account_id}/deauthorize").raise_for_status()


def key(label: str = "test") -> str:
    """A fresh idempotency key, so tests sharing the session's sandbox never collide."""
    return f"{label}:{uuid.uuid4().hex}"


async def make_account(gateway: StripeGateway, **extra: Any) -> dict[str, Any]:
    params: Any = {
        "country": "US",
        "email": f"{uuid.uuid4().hex[:8]}@example.com",
        "controller": {
            "stripe_dashboard": {"type": "express"},
            "fees": {"payer": "application"},
            "losses": {"payments": "application"},
        },
        **extra,
    }
    return await gateway.create_account(params, idempotency_key=key("acct"))


def png(width: int = 128, height: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 37, 64)).save(buf, format="PNG")
    return buf.getvalue()
