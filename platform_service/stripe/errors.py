"""The service's one Stripe error, and the mapping from stripe-python's exceptions to it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import stripe


class StripeErrorKind(StrEnum):
    """What went wrong talking to Stripe, in the terms the service acts on."""

    INVALID_REQUEST = "invalid_request"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    ACCOUNT_INVALID = "account_invalid"
    RESOURCE_MISSING = "resource_missing"
    RATE_LIMITED = "rate_limited"
    LOCK_TIMEOUT = "lock_timeout"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    IDEMPOTENCY_IN_FLIGHT = "idempotency_in_flight"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    CONNECTION = "connection"
    SIGNATURE = "signature"


RETRYABLE_KINDS = frozenset(
    {
        StripeErrorKind.RATE_LIMITED,
        StripeErrorKind.LOCK_TIMEOUT,
        StripeErrorKind.IDEMPOTENCY_IN_FLIGHT,
        StripeErrorKind.UPSTREAM_UNAVAILABLE,
        StripeErrorKind.CONNECTION,
    }
)


class StripeGatewayError(Exception):
    """A failed Stripe call (or webhook check), independent of stripe-python's classes."""

    def __init__(
        self,
        kind: StripeErrorKind,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        stripe_account: str | None = None,
        should_retry_header: bool | None = None,
        retryable: bool | None = None,
        replayed: bool = False,
        rate_limited_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.http_status = http_status
        self.code = code
        self.param = param
        self.request_id = request_id
        self.stripe_account = stripe_account
        self.should_retry_header = should_retry_header
        # The answer is one Stripe stored under the idempotency key and replayed
        # (`Idempotent-Replayed: true`): retrying with that key can only repeat it.
        self.replayed = replayed
        # Which of Stripe's limiters refused a 429 (`Stripe-Rate-Limited-Reason`):
        # global-rate, endpoint-rate, global-concurrency, endpoint-concurrency or
        # resource-specific.
        self.rate_limited_reason = rate_limited_reason
        if retryable is None:
            # Stripe's own advice wins over our reading of the status: it says
            # "true" on lock timeouts and "false" where a retry would be a no-op.
            retryable = (
                should_retry_header if should_retry_header is not None else kind in RETRYABLE_KINDS
            )
        self.retryable = retryable

    def __str__(self) -> str:
        where = f" [{self.stripe_account}]" if self.stripe_account else ""
        req = f" ({self.request_id})" if self.request_id else ""
        return f"{self.kind}{where}: {self.message}{req}"

    def __repr__(self) -> str:
        return (
            f"StripeGatewayError(kind={self.kind.value!r}, http_status={self.http_status!r}, "
            f"code={self.code!r}, param={self.param!r}, retryable={self.retryable!r})"
        )


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    # httpx hands back case-insensitive headers, other transports may not.
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def _error_field(exc: stripe.StripeError, name: str) -> str | None:
    # Only InvalidRequestError/CardError fill exc.code/exc.param; every other
    # class keeps them on the ErrorObject (contract §4.4).
    value: Any = getattr(exc, name, None)
    if value is None and isinstance(exc.json_body, dict):
        body_error = exc.json_body.get("error")
        if isinstance(body_error, dict):
            value = body_error.get(name)
    return value if isinstance(value, str) and value else None


def _kind_for(exc: stripe.StripeError, code: str | None) -> StripeErrorKind:
    status = exc.http_status
    if isinstance(exc, stripe.SignatureVerificationError):
        return StripeErrorKind.SIGNATURE
    if isinstance(exc, stripe.APIConnectionError):
        return StripeErrorKind.CONNECTION
    if isinstance(exc, stripe.RateLimitError):
        # 429 and the 400 `rate_limit` of account creation both land here.
        if code == "lock_timeout":
            return StripeErrorKind.LOCK_TIMEOUT
        return StripeErrorKind.RATE_LIMITED
    if isinstance(exc, stripe.IdempotencyError):
        return StripeErrorKind.IDEMPOTENCY_CONFLICT
    if isinstance(exc, stripe.AuthenticationError):
        return StripeErrorKind.AUTHENTICATION
    if isinstance(exc, stripe.PermissionError):
        if code == "account_invalid":
            return StripeErrorKind.ACCOUNT_INVALID
        return StripeErrorKind.PERMISSION
    if code == "resource_missing" or (status == 404 and code is None):
        return StripeErrorKind.RESOURCE_MISSING
    if code == "lock_timeout":
        return StripeErrorKind.LOCK_TIMEOUT
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError):
        return StripeErrorKind.INVALID_REQUEST
    if status == 409:
        return StripeErrorKind.IDEMPOTENCY_IN_FLIGHT
    if status == 429:
        return StripeErrorKind.RATE_LIMITED
    if status is not None and 400 <= status < 500:
        return StripeErrorKind.INVALID_REQUEST
    # 5xx, or a body Stripe's client could not read at all.
    return StripeErrorKind.UPSTREAM_UNAVAILABLE


def map_stripe_error(
    exc: stripe.StripeError, *, stripe_account: str | None = None
) -> StripeGatewayError:
    """Translate one stripe-python exception into the service's error."""
    code = _error_field(exc, "code")
    header = _header(exc.headers, "Stripe-Should-Retry")
    should_retry = {"true": True, "false": False}.get(header.strip().lower()) if header else None
    user_message: Any = exc.user_message
    message = user_message if isinstance(user_message, str) else type(exc).__name__
    return StripeGatewayError(
        _kind_for(exc, code),
        message,
        http_status=exc.http_status,
        code=code,
        param=_error_field(exc, "param"),
        request_id=exc.request_id,
        stripe_account=stripe_account,
        should_retry_header=should_retry,
        replayed=(_header(exc.headers, "Idempotent-Replayed") or "").lower() == "true",
        rate_limited_reason=_header(exc.headers, "Stripe-Rate-Limited-Reason"),
    )


def signature_error(message: str, *, code: str = "signature_invalid") -> StripeGatewayError:
    """Build the error raised when a webhook's signature or payload cannot be trusted."""
    return StripeGatewayError(StripeErrorKind.SIGNATURE, message, code=code, retryable=False)
