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

from platform_service.sandbox.errors import (
    api_error,
    concurrency_limited,
    lock_timeout,
    rate_limited,
)

FaultKind = Literal["500", "rate_limit", "lock_timeout", "500_after_apply", "500_stored"]
FAULT_KINDS: tuple[str, ...] = (
    "500",
    "rate_limit",
    "lock_timeout",
    "500_after_apply",
    "500_stored",
)

# Stripe's test-mode limits (docs.stripe.com/rate-limits, stripe-contract.md §4.1): the
# sandbox's defaults, so pacing and retries are exercised against what Stripe enforces.
STRIPE_RATE = 25.0  # per second, all requests of the account
STRIPE_ENDPOINT_RATE = 25.0  # per second, each operation (method + path template)
STRIPE_FILES_RATE = 20.0  # the Files API's own figure, reads and writes counted apart
FILES_ENDPOINTS = ("POST /v1/files", "GET /v1/files", "GET /v1/files/{id}")
# Stripe throttles connected-account creation on its own (< 5/s with test keys) and
# answers 400, not 429.
DEFAULT_ACCOUNT_CREATE_RATE = 5.0
# Stripe publishes no figure for its concurrency limiter. Its engineering blog ("Scaling
# your API with rate limiters", 2017) gives "only 20 API requests in progress at the
# same time" as the limiter's example, the only number it has put out; the contract's
# bulk advice (about 10 in flight) stays well under it.
STRIPE_CONCURRENCY = 20

LIMIT_KNOBS = (
    "rate_limit",
    "endpoint_rate_limit",
    "endpoint_limits",
    "account_create_rate",
    "concurrency_limit",
)


def stripe_limits() -> dict[str, Any]:
    """Stripe's test-mode limits, as `Faults.configure` takes them."""
    return {
        "rate_limit": STRIPE_RATE,
        "endpoint_rate_limit": STRIPE_ENDPOINT_RATE,
        "endpoint_limits": dict.fromkeys(FILES_ENDPOINTS, STRIPE_FILES_RATE),
        "account_create_rate": DEFAULT_ACCOUNT_CREATE_RATE,
        "concurrency_limit": STRIPE_CONCURRENCY,
    }


def no_limits() -> dict[str, Any]:
    return {**dict.fromkeys(LIMIT_KNOBS), "endpoint_limits": {}}


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
    concurrency_limit: int | None = None
    latency_ms: int = 0
    fail_rate: float = 0.0
    # Seconds before a v1-made account shows in /v2 (Stripe's v2 view lags a little).
    v2_ready_delay_s: float = 0.0
    bursts: list[Burst] = field(default_factory=list)
    _windows: dict[str, SlidingWindow] = field(default_factory=dict)
    _locks: set[tuple[str, str]] = field(default_factory=set)
    _in_flight: int = 0
    # What the sandbox started with, for `{"restore": true}`.
    _initial: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._initial = self.settings()

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply run-time changes from `POST /_sandbox/faults`; limiters restart empty.

        `restore` goes back to the start configuration and `limits` (true: Stripe's
        test-mode figures, false: none) sets every limit at once; both apply before the
        other keys, so `{"limits": true, "rate_limit": 10}` means Stripe's but 10/s.
        """
        if changes.get("restore"):
            self.bursts.clear()
            self._set(self._initial)
        if "limits" in changes:
            self._set(stripe_limits() if changes["limits"] else no_limits())
        self._set(changes)
        for spec in changes.get("next", []):
            if spec["kind"] not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {spec['kind']!r}")
            self.bursts.append(
                Burst(spec["kind"], int(spec.get("count", 1)), spec.get("method"), spec.get("path"))
            )
        if changes.get("clear_next"):
            self.bursts.clear()
        self._windows.clear()

    def _set(self, values: dict[str, Any]) -> None:
        for name in ("rate_limit", "endpoint_rate_limit", "account_create_rate"):
            if name in values:
                value = values[name]
                setattr(self, name, None if value in (None, 0) else float(value))
        if "concurrency_limit" in values:
            value = values["concurrency_limit"]
            self.concurrency_limit = None if value in (None, 0) else int(value)
        if "endpoint_limits" in values:
            self.endpoint_limits = {k: float(v) for k, v in values["endpoint_limits"].items()}
        if "latency_ms" in values:
            self.latency_ms = int(values["latency_ms"])
        if "fail_rate" in values:
            self.fail_rate = float(values["fail_rate"])
        if "v2_ready_delay_s" in values:
            self.v2_ready_delay_s = float(values["v2_ready_delay_s"] or 0)

    def settings(self) -> dict[str, Any]:
        """The limits, latency and fail rate (not the queued faults), as `configure` takes them."""
        return {
            "rate_limit": self.rate_limit,
            "endpoint_rate_limit": self.endpoint_rate_limit,
            "endpoint_limits": dict(self.endpoint_limits),
            "account_create_rate": self.account_create_rate,
            "concurrency_limit": self.concurrency_limit,
            "latency_ms": self.latency_ms,
            "fail_rate": self.fail_rate,
            "v2_ready_delay_s": self.v2_ready_delay_s,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.settings(),
            "in_flight": self._in_flight,
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

    def before_request(self, method: str, path: str, endpoint: str, t: float) -> FaultKind | None:
        """Raise the fault this request meets before any work is done, if any.

        Returns the fault to act out once execution has begun (`500_after_apply`,
        `500_stored`): those are kept under the request's idempotency key, as Stripe
        keeps the outcome of every request it started.
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
        return kind

    def check_rates(self, endpoint: str, t: float) -> None:
        if endpoint in ("POST /v1/accounts", "POST /v2/core/accounts"):
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

    def enter(self) -> None:
        """Count a request in flight, or refuse it past the concurrency limit."""
        if self.concurrency_limit is not None and self._in_flight >= self.concurrency_limit:
            raise concurrency_limited("global-concurrency")
        self._in_flight += 1

    def leave(self) -> None:
        self._in_flight -= 1

    def lock(self, key: tuple[str, str]) -> None:
        if key in self._locks:
            raise lock_timeout()
        self._locks.add(key)

    def unlock(self, key: tuple[str, str]) -> None:
        self._locks.discard(key)


def monotonic() -> float:
    return time.monotonic()
