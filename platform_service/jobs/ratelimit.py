"""One Stripe request budget shared by every worker process and the API.

A GCRA ("leaky bucket as a meter") per scope, kept in Redis and advanced by one
Lua script, so N processes together never exceed the budget: the global budget,
a cap per endpoint, and a lower pace for background traffic (jobs) while interactive traffic
has been seen recently (the reserved share; when nobody is using it, jobs get
the whole budget). Hand-written because the limiting libraries on PyPI either
sleep in Redis-unfriendly ways or can't express "jobs yield to interactive".

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

TrafficClass = Literal["interactive", "background"]

# Which budget a Stripe call draws on: API requests are interactive; every job
# (bulk items, webhook handling, syncs, reconciliation) runs as background.
traffic_class: contextvars.ContextVar[TrafficClass] = contextvars.ContextVar(
    "traffic_class", default="interactive"
)

# Admission times and Stripe's arrival times differ by network jitter; pacing a little
# under the budget keeps every one-second window at or below it. Against the sandbox's
# strict sliding window (bench/bulk.py --rate 25, quiet machine): 0.97 left 3-4% of the
# budget unused with 0.1-0.6% 429s; 0.98 uses 0.974-0.975 of it with 0.2-0.5% 429s.
SAFETY = 0.98
INTERACTIVE_IDLE_S = 10.0
# A call that wakes this much after its slot books a new one instead of going.
LATE_S = 0.015

# Background callers may book slots at most this far ahead, so an interactive call
# never queues behind more than this much background work.
BACKGROUND_HORIZON_MS = 250.0

# Reservation GCRA. KEYS: one "theoretical arrival time" per scope. ARGV: now_ms,
# horizon_ms, then one interval_ms per key. The caller's slot starts when every
# scope is free; each scope's TAT moves one interval past it. A slot is booked
# (not raced for), so a caller that wakes a little late loses nothing and no one
# queues twice. Replies {1, wait_us} (booked: go after wait_us) or {0, retry_us}
# (the schedule is full beyond the horizon: ask again later). Microseconds in
# integers, because Redis truncates Lua numbers in replies.
_GCRA = """
local now = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local start = now
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or now)
  if tat > start then start = tat end
end
if start - now > horizon then
  return {0, math.ceil((start - now - horizon) * 1000)}
end
for i, key in ipairs(KEYS) do
  local tat = start + tonumber(ARGV[i + 2])
  redis.call('SET', key, tat, 'PX', math.ceil(tat - now + 60000))
end
return {1, math.floor((start - now) * 1000)}
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
        if klass == "background" and interactive_active and self.interactive_share > 0:
            scopes.append(("background", self.rate * SAFETY * (1 - self.interactive_share)))
        endpoint = self.endpoint_rates.get(operation)
        if endpoint:
            scopes.append((f"op:{operation}", endpoint * SAFETY))
        return scopes


class RateLimiter(Protocol):
    async def acquire(self, operation: str, stripe_account: str | None = None) -> None: ...

    async def penalise(self) -> None: ...


def _retry_pause_s() -> float:
    return BACKGROUND_HORIZON_MS / 1000 * (0.25 + random.random() * 0.5)


def _horizon_ms(klass: TrafficClass) -> float:
    return BACKGROUND_HORIZON_MS if klass == "background" else 60_000.0


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
        """Book the call's slot in every budget it draws on, then wait for it."""
        klass = traffic_class.get()
        active = await self._interactive_active(klass)
        scopes = self.budget.scopes(operation, klass, active)
        keys = [f"{self.prefix}:{name}" for name, _ in scopes]
        intervals = [1000.0 / rate for _, rate in scopes]
        while True:
            args = [time.time() * 1000, _horizon_ms(klass), *intervals]
            booked, micros = await self._script(keys=keys, args=args)
            pause = int(micros) / 1_000_000
            if not booked:
                # Come back once slots free up, not in a tight loop with every other waiter.
                pause = max(pause, _retry_pause_s())
            due = time.monotonic() + pause
            if pause > 0:
                self.waited_s += pause
                await asyncio.sleep(pause)
            if booked and time.monotonic() - due <= LATE_S:
                return
            # Woken too late (a busy event loop): sent now, this call would crowd the
            # next slots into one of Stripe's seconds. Give the slot up and book again.

    async def penalise(self) -> None:
        """Stripe said 429 anyway: push the global schedule back one slot, for every process."""
        seconds = 1 / (self.budget.rate * SAFETY)
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
        self.waited_s = 0.0

    async def acquire(self, operation: str, stripe_account: str | None = None) -> None:
        klass = traffic_class.get()
        now_s = time.monotonic()
        if klass == "interactive":
            self._interactive_seen = now_s
        active = now_s - self._interactive_seen < INTERACTIVE_IDLE_S and self._interactive_seen > 0
        scopes = self.budget.scopes(operation, klass, active)
        while True:
            # No await between reading and booking: the event loop makes this atomic.
            now = time.monotonic() * 1000
            start = max([now, *(self._tat.get(name, now) for name, _ in scopes)])
            late = start - now - _horizon_ms(klass)
            if late <= 0:
                for name, rate in scopes:
                    self._tat[name] = start + 1000.0 / rate
            pause = (start - now) / 1000 if late <= 0 else max(late / 1000, _retry_pause_s())
            if pause > 0:
                self.waited_s += pause
                await asyncio.sleep(pause)
            if late <= 0:
                return

    async def penalise(self) -> None:
        seconds = 1 / (self.budget.rate * SAFETY)
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
