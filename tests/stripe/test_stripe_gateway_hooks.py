"""The before_call hook (where the shared rate limiter plugs in) and the per-call metrics."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from platform_service.sandbox.server import SandboxServer
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import StripeGateway
from platform_service.stripe.metrics import StripeMetrics, default_metrics
from tests.stripe.support import SandboxAdmin, key, make_account


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def __call__(self, operation: str, stripe_account: str | None) -> None:
        self.calls.append((operation, stripe_account))


@pytest.fixture
async def hooked(sandbox: SandboxServer, registry: CollectorRegistry) -> Any:
    recorder = Recorder()
    gateway = StripeGateway(
        secret_key=sandbox.secret_key,
        api_base=sandbox.url,
        before_call=recorder,
        metrics=StripeMetrics(registry),
    )
    yield gateway, recorder
    await gateway.aclose()


async def test_hook_sees_each_call_with_its_operation_and_account(hooked: Any):
    gateway, recorder = hooked
    account = await make_account(gateway)
    await gateway.update_account(account["id"], {"metadata": {"a": "1"}}, idempotency_key=key())
    await gateway.create_customer({}, stripe_account=account["id"], idempotency_key=key())
    await gateway.ping()
    assert recorder.calls == [
        ("accounts.create", None),
        ("accounts.update", account["id"]),
        ("customers.create", account["id"]),
        ("account.retrieve_current", None),
    ]


async def test_hook_runs_once_per_page(hooked: Any, admin: SandboxAdmin):
    gateway, recorder = hooked
    for _ in range(3):
        await make_account(gateway)
    recorder.calls.clear()
    mark = admin.mark()
    async for _ in gateway.iter_accounts({"limit": 1}):
        pass
    pages = admin.requests_since(mark, "/v1/accounts")
    assert len(pages) >= 3
    assert recorder.calls == [("accounts.list", None)] * len(pages)


async def test_a_refusing_hook_stops_the_call_before_anything_is_sent(
    sandbox: SandboxServer, admin: SandboxAdmin
):
    async def limiter(operation: str, stripe_account: str | None) -> None:
        raise TimeoutError("rate limiter budget exhausted")

    gateway = StripeGateway(
        secret_key=sandbox.secret_key,
        api_base=sandbox.url,
        before_call=limiter,
        metrics=StripeMetrics(CollectorRegistry()),
    )
    mark = admin.mark()
    try:
        with pytest.raises(TimeoutError):
            await gateway.create_customer({}, stripe_account=None, idempotency_key=key())
    finally:
        await gateway.aclose()
    assert admin.requests_since(mark) == []


async def test_metrics_count_calls_latency_and_errors_by_kind(
    gateway: StripeGateway, registry: CollectorRegistry
):
    await gateway.create_customer({}, stripe_account=None, idempotency_key=key())
    await gateway.create_customer({}, stripe_account=None, idempotency_key=key())
    with pytest.raises(StripeGatewayError):
        await gateway.retrieve_customer("cus_missing", stripe_account=None)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("platform_stripe_requests_total", method="customers.create", outcome="ok") == 2
    assert (
        sample("platform_stripe_requests_total", method="customers.retrieve", outcome="error") == 1
    )
    missing = StripeErrorKind.RESOURCE_MISSING.value
    assert sample("platform_stripe_errors_total", method="customers.retrieve", kind=missing) == 1
    assert sample("platform_stripe_request_seconds_count", method="customers.create") == 2
    assert (sample("platform_stripe_request_seconds_sum", method="customers.create") or 0) > 0


async def test_gateways_share_the_default_registrys_metrics():
    first = StripeGateway(secret_key="sk_test_a")
    second = StripeGateway(secret_key="sk_test_b")
    try:
        # Collectors register once per registry, so every gateway reuses one set.
        assert first._metrics is second._metrics is default_metrics()
        families = {m.name for m in REGISTRY.collect()}
        assert {
            "platform_stripe_requests",
            "platform_stripe_request_seconds",
            "platform_stripe_errors",
        } <= families
    finally:
        await first.aclose()
        await second.aclose()
