"""Gateway fixtures: a fresh gateway per test against the session's sandbox, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from prometheus_client import CollectorRegistry

from platform_service.sandbox.server import SandboxServer
from platform_service.stripe.gateway import StripeGateway
from platform_service.stripe.metrics import StripeMetrics
from tests.stripe.support import SandboxAdmin, make_account


@pytest.fixture
def admin(sandbox_admin: httpx.Client) -> SandboxAdmin:
    """The sandbox's admin API; the shared `sandbox_admin` fixture clears faults afterwards."""
    return SandboxAdmin(sandbox_admin)


@pytest.fixture(autouse=True)
def _fast_sdk_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK sleeps >= 0.5 s between retries; the retry count, not the wait, is under test.
    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.01)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def gateway(
    sandbox: SandboxServer, admin: SandboxAdmin, registry: CollectorRegistry
) -> AsyncIterator[StripeGateway]:
    gw = StripeGateway(
        secret_key=sandbox.secret_key,
        api_base=sandbox.url,
        max_network_retries=2,
        timeout_s=10,
        metrics=StripeMetrics(registry),
    )
    yield gw
    await gw.aclose()


@pytest.fixture
async def account(gateway: StripeGateway) -> dict[str, Any]:
    return await make_account(gateway)
