"""The sandbox's limits default to Stripe's test mode, and every 429 names its limiter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from click.testing import CliRunner

from platform_service import cli
from platform_service.sandbox import __main__ as sandbox_main
from platform_service.sandbox import server as sandbox_server
from platform_service.sandbox.errors import StripeError
from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.sandbox import client_for

STRIPE_TEST_MODE: dict[str, Any] = {
    "rate_limit": 25.0,
    "endpoint_rate_limit": 25.0,
    "endpoint_limits": {"POST /v1/files": 20.0, "GET /v1/files": 20.0, "GET /v1/files/{id}": 20.0},
    "account_create_rate": 5.0,
    "concurrency_limit": 20,
}
NO_LIMITS: dict[str, Any] = {
    "rate_limit": None,
    "endpoint_rate_limit": None,
    "endpoint_limits": {},
    "account_create_rate": None,
    "concurrency_limit": None,
}


@pytest.fixture
def strict() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def faults(server: SandboxServer, **changes: object) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/_sandbox/faults", json=changes)
    response.raise_for_status()
    snapshot: dict[str, Any] = response.json()
    return snapshot


def limits_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: snapshot[k] for k in STRIPE_TEST_MODE}


def refusal(check: Any) -> StripeError:
    with pytest.raises(StripeError) as info:
        check()
    return info.value


def test_a_default_sandbox_has_stripes_test_mode_limits(strict: SandboxServer) -> None:
    assert limits_of(httpx.get(f"{strict.url}/_sandbox/faults").json()) == STRIPE_TEST_MODE


def test_limits_false_turns_every_limit_off() -> None:
    assert limits_of(SandboxConfig(limits=False).faults().snapshot()) == NO_LIMITS


def test_the_default_limits_refuse_what_stripe_refuses() -> None:
    """Replayed against the limiter with made-up clock readings, so no timing is involved."""
    faults = SandboxConfig().faults()
    for i in range(20):
        faults.check_rates("GET /v1/files", i / 1000)
    files = refusal(lambda: faults.check_rates("GET /v1/files", 0.5))
    assert (files.status, files.headers["Stripe-Rate-Limited-Reason"]) == (429, "endpoint-rate")

    faults = SandboxConfig().faults()
    for i in range(25):
        faults.check_rates(f"GET /v1/op{i}", i / 1000)
    busy = refusal(lambda: faults.check_rates("GET /v1/another", 0.5))
    assert (busy.status, busy.headers["Stripe-Rate-Limited-Reason"]) == (429, "global-rate")
    faults.check_rates("GET /v1/another", 1.1)  # the window has moved on

    faults = SandboxConfig().faults()
    for i in range(5):
        faults.check_rates("POST /v1/accounts", i / 1000)
    create = refusal(lambda: faults.check_rates("POST /v1/accounts", 0.5))
    assert (create.status, create.code) == (400, "rate_limit")
    assert create.headers["Stripe-Rate-Limited-Reason"] == "resource-specific"

    faults = SandboxConfig().faults()
    for _ in range(20):
        faults.enter()
    crowded = refusal(faults.enter)
    assert (crowded.status, crowded.code) == (429, "rate_limit")
    assert crowded.headers["Stripe-Rate-Limited-Reason"] == "global-concurrency"
    faults.leave()
    faults.enter()  # one finished, so one more may start


def test_requests_in_flight_past_the_limit_get_global_concurrency(strict: SandboxServer) -> None:
    client = client_for(strict)
    faults(strict, concurrency_limit=1, latency_ms=1500)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def call() -> None:
        start.wait()
        try:
            outcomes.append(client.v1.customers.list({"limit": 1}))
        except stripe.RateLimitError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [o for o in outcomes if isinstance(o, stripe.RateLimitError)]
    assert len(refused) == 1, outcomes
    assert refused[0].http_status == 429
    assert refused[0].headers is not None
    assert refused[0].headers["Stripe-Rate-Limited-Reason"] == "global-concurrency"
    assert httpx.get(f"{strict.url}/_sandbox/faults").json()["in_flight"] == 0


def test_every_429_names_its_limiter(strict: SandboxServer) -> None:
    client = client_for(strict)
    faults(
        strict,
        next=[
            {"kind": "rate_limit", "count": 1, "path": "/v1/customers"},
            {"kind": "lock_timeout", "count": 1, "path": "/v1/customers"},
        ],
        endpoint_limits={"GET /v1/products": 1},
    )
    reasons = []
    for call in (
        lambda: client.v1.customers.list(),
        lambda: client.v1.customers.list(),
        lambda: [client.v1.products.list() for _ in range(2)],
    ):
        with pytest.raises(stripe.RateLimitError) as info:
            call()
        assert info.value.http_status == 429
        assert info.value.headers is not None
        reasons.append(info.value.headers["Stripe-Rate-Limited-Reason"])
    assert reasons == ["global-rate", "resource-specific", "endpoint-rate"]
    log = httpx.get(f"{strict.url}/_sandbox/requests").json()
    assert [e["error"]["rate_limited_reason"] for e in log if e["status"] == 429] == reasons


def test_restore_goes_back_to_the_start_configuration(strict: SandboxServer) -> None:
    changed = faults(strict, limits=False, latency_ms=5, next=[{"kind": "500"}])
    assert limits_of(changed) == NO_LIMITS
    stripe_but_slower = faults(strict, limits=True, rate_limit=10)
    assert limits_of(stripe_but_slower) == {**STRIPE_TEST_MODE, "rate_limit": 10.0}
    restored = faults(strict, restore=True)
    assert limits_of(restored) == STRIPE_TEST_MODE
    assert restored["latency_ms"] == 0 and restored["next"] == []

    with SandboxServer(SandboxConfig(limits=False, latency_ms=3)) as lax:
        faults(lax, limits=True, latency_ms=0)
        restored = faults(lax, restore=True)
    assert limits_of(restored) == NO_LIMITS and restored["latency_ms"] == 3


def test_both_command_lines_start_with_limits_and_can_turn_them_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[SandboxConfig] = []
    monkeypatch.setattr(sandbox_server, "run_standalone", started.append)
    monkeypatch.setattr(sandbox_main, "run_standalone", started.append)
    runner = CliRunner()
    for args in ([], ["--no-limits"]):
        result = runner.invoke(cli.main, ["sandbox", *args])
        assert result.exit_code == 0, result.output
        sandbox_main.main(args)
    strict_cli, strict_module, lax_cli, lax_module = (c.faults().snapshot() for c in started)
    assert limits_of(strict_cli) == limits_of(strict_module) == STRIPE_TEST_MODE
    assert limits_of(lax_cli) == limits_of(lax_module) == NO_LIMITS
