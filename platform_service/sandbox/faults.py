"""Rate limits and injected faults, shaped like Stripe's.

The limiters are sliding-window logs rather than token buckets: a log admits at most
`capacity` requests in *any* window of `capacity / rate` seconds, which is the property
tests check afterwards by scanning the request log's timestamps.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from platform_service.sandbox.errors import api_error, lock_timeout, rate_limited

FaultKind = Literal["500", "rate_limit", "lock_timeout", "500_after_apply"]
FAULT_KINDS: tuple[str, ...] = ("500", "rate_limit", "lock_timeout", "500_after_apply")

# Stripe throttles connected-account creation on its own (< 5/s with test keys) and
# answers 400, not 429.
DEFAULT_ACCOUNT_CREATE_RATE = 5.0


class SlidingWindow:
    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1, math.floor(rate))
        self.window = self.capacity / rate
        self._admitted: deque[float] = deque()

    def try_acquire(self, t: float) -> bool:
        while self._admitted and t - self._admitted[0] >= self.window:
            self._admitted.popleft()
        if len(self._admitted) >= self.capacity:
            return False
        self._admitted.append(t)
        return True


@dataclass
class Burst:
    """The next `remaining` matching requests answer with `kind`."""

    kind: FaultKind
    remaining: int
    method: str | None = None
    path_prefix: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not (self.path_prefix and not path.startswith(self.path_prefix))


@dataclass
class Faults:
    rate_limit: float | None = None
    endpoint_rate_limit: float | None = None
    endpoint_limits: dict[str, float] = field(default_factory=dict)
    account_create_rate: float | None = None
    latency_ms: int = 0
    fail_rate: float = 0.0
    bursts: list[Burst] = field(default_factory=list)
    _windows: dict[str, SlidingWindow] = field(default_factory=dict)
    _locks: set[tuple[str, str]] = field(default_factory=set)

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply run-time changes from `POST /_sandbox/faults`; limiters restart empty."""
        for name in ("rate_limit", "endpoint_rate_limit", "account_create_rate"):
            if name in changes:
                value = changes[name]
                setattr(self, name, None if value in (None, 0) else float(value))
        if "endpoint_limits" in changes:
            self.endpoint_limits = {k: float(v) for k, v in changes["endpoint_limits"].items()}
        if "latency_ms" in changes:
            self.latency_ms = int(changes["latency_ms"])
        if "fail_rate" in changes:
            self.fail_rate = float(changes["fail_rate"])
        for spec in changes.get("next", []):
            if spec["kind"] not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {spec['kind']!r}")
            self.bursts.append(
                Burst(spec["kind"], int(spec.get("count", 1)), spec.get("method"), spec.get("path"))
            )
        if changes.get("clear_next"):
            self.bursts.clear()
        self._windows.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "rate_limit": self.rate_limit,
            "endpoint_rate_limit": self.endpoint_rate_limit,
            "endpoint_limits": self.endpoint_limits,
            "account_create_rate": self.account_create_rate,
            "latency_ms": self.latency_ms,
            "fail_rate": self.fail_rate,
            "next": [b.__dict__ for b in self.bursts],
        }

    def take_burst(self, method: str, path: str) -> FaultKind | None:
        for burst in self.bursts:
            if burst.remaining > 0 and burst.matches(method, path):
                burst.remaining -= 1
                kind = burst.kind
                self.bursts = [b for b in self.bursts if b.remaining > 0]
                return kind
        return None

    def before_request(self, method: str, path: str, endpoint: str, t: float) -> bool:
        """Raise the fault this request meets before any work is done, if any.

        Returns True when the request should be applied and its answer then lost (a 500
        after the write), which is what idempotency keys exist to survive.
        """
        kind = self.take_burst(method, path)
        if kind == "500":
            raise api_error()
        if kind == "rate_limit":
            raise rate_limited("global-rate")
        if kind == "lock_timeout":
            raise lock_timeout()
        if self.fail_rate and random.random() < self.fail_rate:
            raise api_error()
        self.check_rates(endpoint, t)
        return kind == "500_after_apply"

    def check_rates(self, endpoint: str, t: float) -> None:
        if endpoint == "POST /v1/accounts":
            rate = self.account_create_rate
            if rate is None and self.rate_limit is not None:
                rate = DEFAULT_ACCOUNT_CREATE_RATE
            if rate is not None and not self._window("account-create", rate).try_acquire(t):
                raise rate_limited("resource-specific", status=400)
        if self.rate_limit is not None and not self._window("global", self.rate_limit).try_acquire(
            t
        ):
            raise rate_limited("global-rate")
        endpoint_rate = self.endpoint_limits.get(endpoint, self.endpoint_rate_limit)
        if endpoint_rate is not None and not self._window(endpoint, endpoint_rate).try_acquire(t):
            raise rate_limited("endpoint-rate")

    def _window(self, key: str, rate: float) -> SlidingWindow:
        window = self._windows.get(key)
        if window is None or window.rate != rate:
            window = self._windows[key] = SlidingWindow(rate)
        return window

    def lock(self, key: tuple[str, str]) -> None:
        if key in self._locks:
            raise lock_timeout()
        self._locks.add(key)

    def unlock(self, key: tuple[str, str]) -> None:
        self._locks.discard(key)


def monotonic() -> float:
    return time.monotonic()
