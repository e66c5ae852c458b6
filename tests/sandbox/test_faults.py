"""Rate limits shaped like Stripe's and injected faults, set at start or at run time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from platform_service.sandbox.faults import SlidingWindow
from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.sandbox import client_for


@pytest.fixture
def own() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


def set_faults(server: SandboxServer, **faults: object) -> None:
    httpx.post(f"{server.url}/_sandbox/faults", json=faults).raise_for_status()


def log(server: SandboxServer) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{server.url}/_sandbox/requests").json()
    return entries


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_sliding_window_admits_capacity_per_window() -> None:
    window = SlidingWindow(3)
    assert [window.try_acquire(t) for t in (0.0, 0.1, 0.2, 0.3)] == [True, True, True, False]
    assert window.try_acquire(1.0) and not window.try_acquire(1.05)
    assert window.try_acquire(1.15)


def test_global_limit_holds_across_concurrent_clients() -> None:
    rate = 10
    with SandboxServer(SandboxConfig(rate_limit=rate)) as server:
        client = client_for(server)
        limited: list[stripe.RateLimitError] = []

        def hammer() -> None:
            deadline = time.monotonic() + 1.6
            while time.monotonic() < deadline:
                try:
                    client.v1.customers.list({"limit": 1})
                except stripe.RateLimitError as exc:
                    limited.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        entries = log(server)
    admitted = [e["t"] for e in entries if e["status"] == 200]
    assert limited, "four busy clients must hit a 10/s limit"
    assert max_in_any_window(admitted) <= rate
    assert len(admitted) >= rate  # and the limiter does let the budget through
    first = limited[0]
    assert first.http_status == 429
    assert first.error is not None and first.error.code == "rate_limit"
    assert first.headers is not None
    assert first.headers["Stripe-Rate-Limited-Reason"] == "global-rate"


def test_per_endpoint_limit(own: SandboxServer) -> None:
    set_faults(own, endpoint_limits={"GET /v1/customers/{id}": 2})
    client = client_for(own)
    customer = client.v1.customers.create({})
    client.v1.customers.retrieve(customer.id)
    client.v1.customers.retrieve(customer.id)
    with pytest.raises(stripe.RateLimitError) as info:
        client.v1.customers.retrieve(customer.id)
    assert info.value.headers is not None
    assert info.value.headers["Stripe-Rate-Limited-Reason"] == "endpoint-rate"
    client.v1.customers.list()  # another endpoint is unaffected


def test_account_creation_is_throttled_with_a_400(own: SandboxServer) -> None:
    set_faults(own, account_create_rate=2)
    client = client_for(own)
    client.v1.accounts.create({"type": "express"})
    client.v1.accounts.create({"type": "express"})
    with pytest.raises(stripe.RateLimitError) as info:
        client.v1.accounts.create({"type": "express"})
    assert info.value.http_status == 400
    assert info.value.error is not None and info.value.error.code == "rate_limit"


def test_account_creation_defaults_to_5_per_second_when_limiting() -> None:
    with SandboxServer(SandboxConfig(rate_limit=1000)) as server:
        client = client_for(server)
        outcomes = []
        for _ in range(7):
            try:
                client.v1.accounts.create({"type": "express"})
                outcomes.append("ok")
            except stripe.RateLimitError as exc:
                outcomes.append(str(exc.http_status))
    assert outcomes.count("ok") == 5 and outcomes.count("400") == 2


def test_concurrent_writes_to_one_object_get_lock_timeout(own: SandboxServer) -> None:
    client = client_for(own)
    account = client.v1.accounts.create({"type": "express"})
    set_faults(own, latency_ms=300)
    errors: list[stripe.RateLimitError] = []
    refused: list[str] = []

    def update(color: str) -> None:
        try:
            client.v1.accounts.update(
                account.id, {"settings": {"branding": {"primary_color": color}}}
            )
        except stripe.RateLimitError as exc:
            errors.append(exc)
            refused.append(color)

    threads = [threading.Thread(target=update, args=(c,)) for c in ("#111111", "#222222")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1
    assert errors[0].error is not None and errors[0].error.code == "lock_timeout"
    assert errors[0].headers is not None and errors[0].headers["Stripe-Should-Retry"] == "true"
    assert errors[0].headers["Stripe-Rate-Limited-Reason"] == "resource-specific"
    # The write that held the lock is the one that landed; the refused one changed nothing.
    set_faults(own, latency_ms=0)
    settings = client.v1.accounts.retrieve(account.id).settings
    assert settings is not None and settings.branding is not None
    assert settings.branding.primary_color == ({"#111111", "#222222"} - set(refused)).pop()


def test_next_k_faults_filtered_by_method_and_path(own: SandboxServer) -> None:
    client = client_for(own)
    set_faults(
        own,
        next=[
            {"kind": "500", "count": 2, "method": "GET", "path": "/v1/customers"},
            {"kind": "rate_limit", "count": 1, "path": "/v1/products"},
            {"kind": "lock_timeout", "count": 1, "path": "/v1/prices"},
        ],
    )
    client.v1.accounts.list()  # not matched
    for _ in range(2):
        with pytest.raises(stripe.APIError) as info:
            client.v1.customers.list()
        assert info.value.http_status == 500
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        client.v1.products.list()
    with pytest.raises(stripe.RateLimitError) as lock:
        client.v1.prices.list()
    assert lock.value.error is not None and lock.value.error.code == "lock_timeout"
    client.v1.products.list()


def test_sdk_retries_through_injected_500s(own: SandboxServer) -> None:
    set_faults(own, next=[{"kind": "500", "count": 2, "method": "POST"}])
    client = client_for(own, max_network_retries=2)
    customer = client.v1.customers.create({"email": "retry@example.com"}, {"idempotency_key": "r1"})
    assert customer.id.startswith("cus_")
    statuses = [e["status"] for e in log(own) if e["idempotency_key"] == "r1"]
    assert statuses == [500, 500, 200]


def test_fail_rate_and_latency_are_settable_at_run_time(own: SandboxServer) -> None:
    client = client_for(own)
    set_faults(own, fail_rate=1.0)
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    set_faults(own, fail_rate=0.0, latency_ms=150)
    started = time.monotonic()
    client.v1.customers.list()
    assert time.monotonic() - started >= 0.15
    snapshot = httpx.get(f"{own.url}/_sandbox/faults").json()
    assert snapshot["latency_ms"] == 150


def test_faults_set_at_start() -> None:
    with SandboxServer(SandboxConfig(fail_rate=1.0)) as server, pytest.raises(stripe.APIError):
        client_for(server).v1.customers.list()


def test_request_log_since_and_clear(own: SandboxServer) -> None:
    client = client_for(own)
    client.v1.customers.create(
        {"email": "log@example.com", "metadata": {"k": "v"}}, {"idempotency_key": "log-1"}
    )
    entries = log(own)
    last = entries[-1]
    assert last["method"] == "POST" and last["path"] == "/v1/customers"
    assert last["params"] == {"email": "log@example.com", "metadata": {"k": "v"}}
    assert last["idempotency_key"] == "log-1" and last["status"] == 200
    assert last["stripe_account"] is None and isinstance(last["t"], float)
    since = httpx.get(f"{own.url}/_sandbox/requests", params={"since": last["seq"]}).json()
    assert [e["seq"] for e in since] == [last["seq"]]
    httpx.delete(f"{own.url}/_sandbox/requests").raise_for_status()
    assert log(own) == []
