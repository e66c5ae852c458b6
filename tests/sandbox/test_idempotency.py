"""Idempotency keys behave as Stripe's: replay, conflict, in-flight, and exactly-once
application across a lost response."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import stripe

from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.sandbox import client_for


@pytest.fixture(scope="module")
def own() -> Iterator[SandboxServer]:
    """A private sandbox: these tests set faults that would disturb others."""
    with SandboxServer(SandboxConfig()) as server:
        yield server


def applied(server: SandboxServer) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{server.url}/_sandbox/idempotency").json()
    return counts


def set_faults(server: SandboxServer, **faults: object) -> None:
    httpx.post(f"{server.url}/_sandbox/faults", json=faults).raise_for_status()


def test_same_key_same_params_replays_the_stored_response(own: SandboxServer) -> None:
    client = client_for(own)
    first = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "replay-1"})
    second = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "replay-1"})
    assert second.id == first.id
    response = second.last_response
    assert response is not None and response.headers["Idempotent-Replayed"] == "true"
    assert applied(own)["replay-1"] == 1
    log = httpx.get(f"{own.url}/_sandbox/requests").json()
    assert [e["replayed"] for e in log if e["idempotency_key"] == "replay-1"] == [False, True]


def test_same_key_other_params_is_an_idempotency_error(own: SandboxServer) -> None:
    client = client_for(own)
    client.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": "conflict-1"})
    with pytest.raises(stripe.IdempotencyError) as info:
        client.v1.customers.create({"email": "c@example.com"}, {"idempotency_key": "conflict-1"})
    assert info.value.http_status == 400


def test_validation_failures_are_not_stored(own: SandboxServer) -> None:
    client = client_for(own)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create({"emial": "x"}, {"idempotency_key": "fix-me"})  # type: ignore[arg-type]
    fixed = client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "fix-me"})
    assert fixed.id.startswith("cus_") and applied(own)["fix-me"] == 1


def test_a_key_in_flight_answers_409(own: SandboxServer) -> None:
    client = client_for(own)
    account = client.v1.accounts.create({"type": "express"})
    set_faults(own, latency_ms=300)
    results: list[object] = []

    def call() -> None:
        try:
            results.append(
                client.v1.customers.create(
                    {"email": "slow@example.com"},
                    {"idempotency_key": "in-flight", "stripe_account": account.id},
                )
            )
        except stripe.APIError as exc:
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        set_faults(own, latency_ms=0)
    errors = [r for r in results if isinstance(r, stripe.APIError)]
    assert len(errors) == 1 and errors[0].http_status == 409
    assert errors[0].error is not None and errors[0].error.code == "idempotency_key_in_use"
    assert applied(own)["in-flight"] == 1


def key_log(server: SandboxServer, key: str) -> list[dict[str, object]]:
    entries = httpx.get(f"{server.url}/_sandbox/requests").json()
    return [e for e in entries if e["idempotency_key"] == key]


def test_a_500_after_the_write_is_replayed_as_that_500(own: SandboxServer) -> None:
    """Stripe keeps the outcome of a started request, 500s included: the SDK's retries
    with the same key get the same 500, and the write happened exactly once."""
    client = client_for(own, max_network_retries=2)
    set_faults(own, next=[{"kind": "500_after_apply", "count": 1, "path": "/v1/customers"}])
    with pytest.raises(stripe.APIError) as info:
        client.v1.customers.create({"email": "once@example.com"}, {"idempotency_key": "lost"})
    assert info.value.http_status == 500
    assert info.value.headers is not None
    assert info.value.headers["Idempotent-Replayed"] == "true"
    assert applied(own)["lost"] == 1
    matches = client.v1.customers.list({"email": "once@example.com"})
    assert len(matches.data) == 1
    log = key_log(own, "lost")
    assert [(e["status"], e["replayed"]) for e in log] == [(500, False), (500, True), (500, True)]


def test_a_500_before_any_change_is_stored_too(own: SandboxServer) -> None:
    """A request that began and failed without changing anything: its key still replays
    the 500, so only a new key can try again."""
    client = client_for(own)
    set_faults(own, next=[{"kind": "500_stored", "count": 1, "path": "/v1/customers"}])
    params: stripe.params.CustomerCreateParams = {"email": "never@example.com"}
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.customers.create(params, {"idempotency_key": "burned"})
    assert "burned" not in applied(own)
    assert client.v1.customers.list({"email": "never@example.com"}).data == []
    fresh = client.v1.customers.create(params, {"idempotency_key": "burned:r1"})
    assert fresh.email == "never@example.com" and applied(own)["burned:r1"] == 1


def test_a_500_before_execution_is_not_stored(own: SandboxServer) -> None:
    client = client_for(own)
    set_faults(own, next=[{"kind": "500", "count": 1, "path": "/v1/customers"}])
    with pytest.raises(stripe.APIError):
        client.v1.customers.create({"email": "later@example.com"}, {"idempotency_key": "early"})
    later = client.v1.customers.create({"email": "later@example.com"}, {"idempotency_key": "early"})
    assert later.id.startswith("cus_") and applied(own)["early"] == 1


def test_rate_limited_and_locked_requests_are_not_stored(own: SandboxServer) -> None:
    client = client_for(own)
    set_faults(
        own,
        next=[
            {"kind": "rate_limit", "count": 1, "path": "/v1/customers"},
            {"kind": "lock_timeout", "count": 1, "path": "/v1/customers"},
        ],
    )
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError):
            client.v1.customers.create({"email": "r@example.com"}, {"idempotency_key": "paced"})
    done = client.v1.customers.create({"email": "r@example.com"}, {"idempotency_key": "paced"})
    assert done.id.startswith("cus_") and applied(own)["paced"] == 1


def test_keys_are_scoped_per_account(own: SandboxServer) -> None:
    client = client_for(own)
    account = client.v1.accounts.create({"type": "express"})
    on_platform = client.v1.customers.create({"email": "s@example.com"}, {"idempotency_key": "k"})
    on_account = client.v1.customers.create(
        {"email": "s@example.com"}, {"idempotency_key": "k", "stripe_account": account.id}
    )
    assert on_platform.id != on_account.id
