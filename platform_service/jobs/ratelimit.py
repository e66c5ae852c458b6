"""One Stripe request budget shared by every worker process and the API.

A GCRA ("leaky bucket as a meter") per scope, kept in Redis and advanced by one
Lua script, so N processes together never exceed the budget: the global budget,
a cap per endpoint, and a lower pace for bulk traffic while interactive traffic
has been seen recently (the reserved share; when nobody is using it, bulk gets
the whole budget). Hand-written because the limiting libraries on PyPI either
sleep in Redis-unfriendly ways or can't express "bulk yields to interactive".

Without Redis (the embedded default) the same arithmetic runs in-process.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TrafficClass = Literal["interactive", "bulk"]

# Which budget a Stripe call draws on; bulk job code sets "bulk" around its calls.
traffic_class: contextvars.ContextVar[TrafficClass] = contextvars.ContextVar(
    "traffic_class", default="interactive"
)

# Admission times and Stripe's arrival times differ by network jitter; pacing a few
# percent under the budget keeps every one-second window at or below it.
SAFETY = 0.97
INTERACTIVE_IDLE_S = 10.0

# KEYS: one TAT key per scope. ARGV: now_ms, then (interval_ms, tolerance_ms) per key.
# Admits only if every scope admits, so a denied request consumes nothing.
_GCRA = """
local now = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[i * 2])
  local tolerance = tonumber(ARGV[i * 2 + 1])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allow_at = tat - tolerance
  if allow_at > now and allow_at - now > wait then wait = allow_at - now end
  tats[i] = tat + interval
end
-- Redis truncates a Lua number reply to an integer: round the wait up, never to 0.
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, tats[i], 'PX', math.ceil(tats[i] - now + 60000))
end
return 0
"""


@dataclass(frozen=True)
class Budget:
    """Requests per second: the global budget, endpoint caps, the interactive share."""

    rate: float
    interactive_share: float = 0.2
    endpoint_rates: Mapping[str, float] = field(default_factory=dict)

    def scopes(
        self, operation: str, klass: TrafficClass, interactive_active: bool
    ) -> list[tuple[str, float]]:
        scopes = [("global", self.rate * SAFETY)]
        if klass == "bulk" and interactive_active and self.interactive_share > 0:
            scopes.append(("bulk", self.rate * SAFETY * (1 - self.interactive_share)))
        endpoint = self.endpoint_rates.get(operation)
        if endpoint:
            scopes.append((f"op:{operation}", endpoint * SAFETY))
        return scopes


class RateLimiter(Protocol):
    async def acquire(self, operation: str, stripe_account: str | None = None) -> None: ...

    async def penalise(self, seconds: float) -> None: ...


def _tolerance_ms(rate: float) -> float:
    # No burst allowance: Stripe counts requests per sliding second, so even
    # pacing (one request per interval) is what stays under it.
    return 0.0


class RedisRateLimiter:
    """The shared limiter: every process pointing at the same Redis and prefix shares it."""

    def __init__(
        self, redis: Any, budget: Budget, *, prefix: str = "platform_service:ratelimit"
    ) -> None:
        self.redis = redis
        self.budget = budget
        self.prefix = prefix
        self._script = redis.register_script(_GCRA)
        self.waited_s = 0.0

    async def _interactive_active(self, klass: TrafficClass) -> bool:
        key = f"{self.prefix}:interactive_seen"
        if klass == "interactive":
            await self.redis.set(key, "1", px=int(INTERACTIVE_IDLE_S * 1000))
            return True
        return bool(await self.redis.exists(key))

    async def acquire(self, operation: str, stripe_account: str | None = None) -> None:
        """Wait until the call fits every budget it draws on, then take its slot."""
        klass = traffic_class.get()
        active = await self._interactive_active(klass)
        scopes = self.budget.scopes(operation, klass, active)
        keys = [f"{self.prefix}:{name}" for name, _ in scopes]
        while True:
            args: list[float] = [time.time() * 1000]
            for _, rate in scopes:
                args += [1000.0 / rate, _tolerance_ms(rate)]
            wait_ms = float(await self._script(keys=keys, args=args))
            if wait_ms <= 0:
                return
            pause = wait_ms / 1000 * (1 + random.random() * 0.1)
            self.waited_s += pause
            await asyncio.sleep(pause)

    async def penalise(self, seconds: float) -> None:
        """Stripe said 429 anyway: push the global schedule back so every process slows down."""
        key = f"{self.prefix}:global"
        now = time.time() * 1000
        tat = float(await self.redis.get(key) or now)
        await self.redis.set(key, max(tat, now) + seconds * 1000, px=int(seconds * 1000 + 60000))


class LocalRateLimiter:
    """The same budget for one process (no Redis: the embedded default)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._tat: dict[str, float] = {}
        self._interactive_seen = 0.0
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    async def acquire(self, operation: str, stripe_account: str | None = None) -> None:
        klass = traffic_class.get()
        now_s = time.monotonic()
        if klass == "interactive":
            self._interactive_seen = now_s
        active = now_s - self._interactive_seen < INTERACTIVE_IDLE_S and self._interactive_seen > 0
        scopes = self.budget.scopes(operation, klass, active)
        while True:
            async with self._lock:
                now = time.monotonic() * 1000
                wait = 0.0
                new: dict[str, float] = {}
                for name, rate in scopes:
                    tat = max(self._tat.get(name, now), now)
                    allow_at = tat - _tolerance_ms(rate)
                    wait = max(wait, allow_at - now)
                    new[name] = tat + 1000.0 / rate
                if wait <= 0:
                    self._tat.update(new)
                    return
            self.waited_s += wait / 1000
            await asyncio.sleep(wait / 1000)

    async def penalise(self, seconds: float) -> None:
        now = time.monotonic() * 1000
        self._tat["global"] = max(self._tat.get("global", now), now) + seconds * 1000


class AccountLocks:
    """At most one write in flight per connected account (Stripe answers `lock_timeout`
    to concurrent writes on one object), across processes when Redis is there."""

    _RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

    def __init__(
        self, redis: Any | None, *, prefix: str = "platform_service:acctlock", ttl_s: float = 60.0
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self._local: dict[str, asyncio.Lock] = {}
        self._release = redis.register_script(self._RELEASE) if redis is not None else None

    async def acquire(self, account_id: str, token: str, *, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        if self.redis is None:
            lock = self._local.setdefault(account_id, asyncio.Lock())
            await asyncio.wait_for(lock.acquire(), timeout=timeout_s)
            return
        key = f"{self.prefix}:{account_id}"
        delay = 0.01
        while not await self.redis.set(key, token, nx=True, px=self.ttl_ms):
            if time.monotonic() > deadline:
                raise TimeoutError(f"account {account_id} stayed locked")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def release(self, account_id: str, token: str) -> None:
        if self.redis is None:
            lock = self._local.get(account_id)
            if lock is not None and lock.locked():
                lock.release()
            return
        assert self._release is not None
        await self._release(keys=[f"{self.prefix}:{account_id}"], args=[token])


def parse_endpoint_rates(values: tuple[str, ...]) -> dict[str, float]:
    """`("accounts.update=25", "files.create=20")` → {operation: ops/s}."""
    rates: dict[str, float] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected OPERATION=RATE, got {item!r}")
        rates[name.strip()] = float(value)
    return rates
