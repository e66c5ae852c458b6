"""Errors in Stripe's v1 shape: `{"error": {"type", "code", "message", "param"}}`.

v1 has no authentication/permission/rate-limit error *types*; those are
`invalid_request_error` with the HTTP status telling them apart, which is also how the
SDK picks its exception class. v2 keeps the envelope but names more types
(`v2_body`); the SDK maps the ones it knows (`rate_limit`, `idempotency_error`) and
falls back to the v1 mapping by status for the rest.
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        stored: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        # Stripe keeps an idempotent request's outcome once execution began; validation
        # failures and rejections before that (rate limits, locks) are not kept.
        self.stored = stored

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> StripeError:
    """A 400 that failed validation, so it is never stored against an idempotency key."""
    return StripeError(400, message, code=code, param=param, stored=False)


def resource_missing(kind: str, object_id: str, *, param: str | None = "id") -> StripeError:
    return StripeError(
        404,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def account_invalid(account_id: str) -> StripeError:
    return StripeError(
        403,
        "The provided key 'sk_test_***' does not have access to account "
        f"'{account_id}' (or that account does not exist). Application access may have "
        "been revoked.",
        code="account_invalid",
        stored=False,
    )


def rate_limited(reason: str, *, status: int = 429) -> StripeError:
    """Stripe's rate limiter; `reason` is `global-rate`, `endpoint-rate` or, for limits
    of one kind of object (account creation), `resource-specific`."""
    return StripeError(
        status,
        "Request rate limit exceeded. You can learn more about rate limits here "
        "https://stripe.com/docs/rate-limits. (Sandbox: test-mode limits are lower.)",
        code="rate_limit",
        headers={"Stripe-Rate-Limited-Reason": reason},
        stored=False,
    )


def concurrency_limited(reason: str) -> StripeError:
    """Stripe's concurrency limiter: too many requests in flight at once."""
    return StripeError(
        429,
        "Too many concurrent requests. You can learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers={"Stripe-Rate-Limited-Reason": reason},
        stored=False,
    )


def lock_timeout() -> StripeError:
    return StripeError(
        429,
        "This object cannot be accessed right now because another API request or Stripe "
        "process is currently accessing it. If you see this error intermittently, retry "
        "the request. If you see this error frequently and are making multiple concurrent "
        "requests to a single object, make your requests serially or at a lower rate.",
        code="lock_timeout",
        # Every 429 names its limiter; a lock is one object's own.
        headers={"Stripe-Should-Retry": "true", "Stripe-Rate-Limited-Reason": "resource-specific"},
        stored=False,
    )


def api_error() -> StripeError:
    return StripeError(
        500,
        "An unknown error occurred (injected by the sandbox).",
        type="api_error",
        stored=False,
    )


def v2_body(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A v1-shaped error body as `/v2` answers it: rate limits get their own type."""
    error = {k: v for k, v in (body.get("error") or {}).items() if k != "doc_url"}
    if status == 429 or error.get("code") == "rate_limit":
        error["type"] = "rate_limit"
    error.setdefault("type", "api_error" if status >= 500 else "invalid_request_error")
    error.setdefault("message", "An unknown error occurred.")
    return {"error": error}
