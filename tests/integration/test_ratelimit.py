"""The shared Stripe budget: several limiters on one Redis never exceed it together."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from platform_service.jobs.ratelimit import (
    SAFETY,
    AccountLocks,
    Budget,
    LocalRateLimiter,
    RedisRateLimiter,
    traffic_class,
)
from platform_service.sandbox.server import SandboxServer
from tests.fixtures.sandbox import restore_faults
from tests.integration.test_accounts import create, sandbox_requests


def busiest_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    worst, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= window:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


async def _hammer(
    limiter: RedisRateLimiter | LocalRateLimiter,
    seconds: float,
    out: list[float],
    klass: str = "background",
) -> None:
    deadline = time.monotonic() + seconds
    traffic_class.set(klass)  # type: ignore[arg-type]
    while time.monotonic() < deadline:
        await limiter.acquire("accounts.update")
        out.append(time.monotonic())


async def test_four_limiters_on_one_redis_share_one_budget(redis_url: str) -> None:
    prefix = f"test:rl:{secrets.token_hex(4)}"
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    limiters = [
        RedisRateLimiter(c, Budget(rate=40, interactive_share=0.0), prefix=prefix) for c in clients
    ]
    stamps: list[float] = []
    await asyncio.gather(*(_hammer(lim, 2.5, stamps) for lim in limiters))
    for c in clients:
        await c.aclose()
    assert busiest_window(stamps) <= 40
    # Work-conserving: together they still use (nearly) the whole budget.
    assert len(stamps) / 2.5 >= 40 * SAFETY * 0.9


async def test_bulk_yields_the_interactive_share_when_interactive_traffic_is_seen(
    redis_url: str,
) -> None:
    prefix = f"test:rl:{secrets.token_hex(4)}"
    redis = Redis.from_url(redis_url)
    limiter = RedisRateLimiter(redis, Budget(rate=50, interactive_share=0.4), prefix=prefix)
    alone: list[float] = []
    await _hammer(limiter, 1.5, alone)
    traffic_class.set("interactive")
    await limiter.acquire("accounts.retrieve")  # someone uses the API
    shared: list[float] = []
    await _hammer(limiter, 1.5, shared)
    await redis.aclose()
    assert len(alone) / 1.5 > 40
    assert len(shared) / 1.5 < 50 * 0.6 * 1.1


async def test_endpoint_cap_applies_to_its_operation_only(redis_url: str) -> None:
    prefix = f"test:rl:{secrets.token_hex(4)}"
    redis = Redis.from_url(redis_url)
    limiter = RedisRateLimiter(
        redis, Budget(rate=200, endpoint_rates={"files.create": 10}), prefix=prefix
    )
    files: list[float] = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        await limiter.acquire("files.create")
        files.append(time.monotonic())
    await redis.aclose()
    assert busiest_window(files) <= 10


async def test_local_limiter_paces_too() -> None:
    limiter = LocalRateLimiter(Budget(rate=30, interactive_share=0.0))
    stamps: list[float] = []
    await asyncio.gather(*(_hammer(limiter, 1.5, stamps) for _ in range(3)))
    assert busiest_window(stamps) <= 30


async def test_account_locks_serialise_writes_across_holders(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    locks = AccountLocks(redis, prefix=f"test:lock:{secrets.token_hex(4)}")
    inside = 0
    worst = 0

    async def writer(n: int) -> None:
        nonlocal inside, worst
        await locks.acquire("acct_1", f"t{n}")
        inside += 1
        worst = max(worst, inside)
        await asyncio.sleep(0.02)
        inside -= 1
        await locks.release("acct_1", f"t{n}")

    await asyncio.gather(*(writer(n) for n in range(6)))
    await redis.aclose()
    assert worst == 1


@pytest.fixture
def stripe_limits(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox with Stripe's test-mode limits, as a user would meet them."""
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"limits": True}).raise_for_status()
    yield sandbox
    restore_faults(sandbox)


async def test_accounts_created_faster_than_stripe_allows_all_get_created(
    stripe_limits: SandboxServer, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """Stripe throttles account creation to under 5/s with a 400; the service waits it out."""
    mark = len(sandbox_requests(stripe_limits))
    created = [await create(client, admin_headers) for _ in range(12)]
    assert len({a["id"] for a in created}) == 12
    sent = [
        e
        for e in sandbox_requests(stripe_limits, mark)
        if e["method"] == "POST" and e["path"] == "/v1/accounts"
    ]
    throttled = [e for e in sent if e["status"] == 400]
    assert throttled, "twelve creations in a row must meet the throttle"
    assert {e["error"]["code"] for e in throttled} == {"rate_limit"}
