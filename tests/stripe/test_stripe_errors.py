"""Mapping of stripe-python's exceptions, built the way its requestor builds them."""

import httpx
import pytest
import stripe

from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError, map_stripe_error


def _body(code=None, type_="invalid_request_error", param=None, message="boom"):
    error = {"type": type_, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def _headers(**extra):
    return httpx.Headers({"request-id": "req_123", **extra})


def _exc(cls, status, body, headers=None):
    headers = headers if headers is not None else _headers()
    if cls in (stripe.InvalidRequestError, stripe.CardError):
        err = body["error"]
        return cls(err["message"], err.get("param"), err.get("code"), "", status, body, headers)
    return cls(body["error"]["message"], "", status, body, headers)


@pytest.mark.parametrize(
    ("cls", "status", "body", "kind", "retryable"),
    [
        (
            stripe.InvalidRequestError,
            400,
            _body("parameter_unknown", param="foo"),
            StripeErrorKind.INVALID_REQUEST,
            False,
        ),
        (
            stripe.InvalidRequestError,
            404,
            _body("resource_missing", param="id"),
            StripeErrorKind.RESOURCE_MISSING,
            False,
        ),
        (
            stripe.AuthenticationError,
            401,
            _body("api_key_expired"),
            StripeErrorKind.AUTHENTICATION,
            False,
        ),
        (
            stripe.PermissionError,
            403,
            _body("account_invalid"),
            StripeErrorKind.ACCOUNT_INVALID,
            False,
        ),
        (stripe.PermissionError, 403, _body(), StripeErrorKind.PERMISSION, False),
        (stripe.RateLimitError, 429, _body("rate_limit"), StripeErrorKind.RATE_LIMITED, True),
        (stripe.RateLimitError, 400, _body("rate_limit"), StripeErrorKind.RATE_LIMITED, True),
        (stripe.RateLimitError, 429, _body("lock_timeout"), StripeErrorKind.LOCK_TIMEOUT, True),
        (
            stripe.IdempotencyError,
            400,
            _body(type_="idempotency_error"),
            StripeErrorKind.IDEMPOTENCY_CONFLICT,
            False,
        ),
        (
            stripe.APIError,
            409,
            _body("idempotency_key_in_use"),
            StripeErrorKind.IDEMPOTENCY_IN_FLIGHT,
            True,
        ),
        (
            stripe.APIError,
            500,
            _body(type_="api_error"),
            StripeErrorKind.UPSTREAM_UNAVAILABLE,
            True,
        ),
        (
            stripe.APIError,
            503,
            _body(type_="api_error"),
            StripeErrorKind.UPSTREAM_UNAVAILABLE,
            True,
        ),
    ],
)
def test_each_stripe_error_maps_to_one_kind(cls, status, body, kind, retryable):
    err = map_stripe_error(_exc(cls, status, body), stripe_account="acct_1")
    assert isinstance(err, StripeGatewayError)
    assert err.kind is kind
    assert err.retryable is retryable
    assert err.http_status == status
    assert err.code == body["error"].get("code")
    assert err.param == body["error"].get("param")
    assert err.message == "boom"
    assert err.request_id == "req_123"
    assert err.stripe_account == "acct_1"
    assert err.should_retry_header is None


def test_code_is_read_from_the_error_object_when_the_exception_lacks_it():
    # RateLimitError/PermissionError leave e.code None (contract §4.4).
    exc = _exc(stripe.PermissionError, 403, _body("account_invalid"))
    assert exc.code is None
    assert map_stripe_error(exc).code == "account_invalid"


def test_connection_errors_are_retryable():
    exc = stripe.APIConnectionError("network down", should_retry=True)
    err = map_stripe_error(exc)
    assert err.kind is StripeErrorKind.CONNECTION
    assert err.retryable is True
    assert err.http_status is None


@pytest.mark.parametrize(
    ("cls", "status", "body", "header", "retryable"),
    [
        (stripe.RateLimitError, 429, _body("lock_timeout"), "true", True),
        (stripe.InvalidRequestError, 400, _body("parameter_invalid"), "true", True),
        (stripe.APIError, 500, _body(type_="api_error"), "false", False),
        (stripe.RateLimitError, 429, _body("rate_limit"), "false", False),
    ],
)
def test_stripe_should_retry_header_overrides_the_kind(cls, status, body, header, retryable):
    exc = _exc(cls, status, body, _headers(**{"Stripe-Should-Retry": header}))
    err = map_stripe_error(exc)
    assert err.retryable is retryable
    assert err.should_retry_header is (header == "true")


def test_should_retry_header_is_read_case_insensitively_from_plain_dicts():
    exc = _exc(stripe.APIError, 500, _body(type_="api_error"), {"stripe-should-retry": "false"})
    assert map_stripe_error(exc).retryable is False


def test_signature_errors_map_to_signature():
    exc = stripe.SignatureVerificationError("No signatures found", "t=1,v1=x")
    err = map_stripe_error(exc)
    assert err.kind is StripeErrorKind.SIGNATURE
    assert err.retryable is False


def test_error_renders_kind_account_and_request_id():
    err = map_stripe_error(
        _exc(stripe.RateLimitError, 429, _body("rate_limit")), stripe_account="acct_9"
    )
    assert str(err) == "rate_limited [acct_9]: boom (req_123)"
    assert "rate_limited" in repr(err)
