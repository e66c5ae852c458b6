"""Prometheus metrics for every call the gateway makes to Stripe."""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

# Stripe answers in ~100-600 ms; the tail covers SDK retries with backoff.
_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)


class StripeMetrics:
    """Request count, latency and errors per gateway operation."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.requests = Counter(
            "platform_stripe_requests_total",
            "Calls made to Stripe by the gateway, by operation and outcome.",
            ["method", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "platform_stripe_request_seconds",
            "Wall time of a gateway call to Stripe, SDK retries included.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "platform_stripe_errors_total",
            "Failed calls to Stripe, by operation and error kind.",
            ["method", "kind"],
            registry=registry,
        )

    def observe(self, method: str, seconds: float, error_kind: str | None = None) -> None:
        """Record one finished call; `error_kind` is None when it succeeded."""
        self.latency.labels(method=method).observe(seconds)
        outcome = "ok" if error_kind is None else "error"
        self.requests.labels(method=method, outcome=outcome).inc()
        if error_kind is not None:
            self.errors.labels(method=method, kind=error_kind).inc()


@cache
def default_metrics() -> StripeMetrics:
    """The process-wide metrics on the default registry (registered once)."""
    # Collectors may be registered only once per registry, and a process can
    # build several gateways (app and worker, tests), so they share this one.
    return StripeMetrics()
