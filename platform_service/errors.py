"""The service's errors and the one error shape every failure is answered in:
`{"error": {"type", "code", "message", "param"?}}`.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError

logger = logging.getLogger(__name__)


class ErrorBody(msgspec.Struct, omit_defaults=True, kw_only=True):
    type: Annotated[
        str,
        msgspec.Meta(
            description="The family: `invalid_request_error`, `authentication_error`, "
            "`permission_error`, `conflict_error`, `rate_limit_error`, `upstream_error` or "
            "`api_error`.",
            examples=["invalid_request_error"],
        ),
    ]
    code: Annotated[
        str,
        msgspec.Meta(
            description="Stable and machine-readable: branch on it.",
            examples=["parameter_invalid"],
        ),
    ]
    message: Annotated[str, msgspec.Meta(description="For people; may change.")]
    param: Annotated[
        str | None,
        msgspec.Meta(
            description="The offending field or parameter, dotted for nested ones.",
            examples=["customisation.headline"],
        ),
    ] = None


class ErrorResponse(msgspec.Struct):
    """The shape of every error the API returns."""

    error: ErrorBody


class ServiceError(Exception):
    """Base of the errors the service raises on purpose."""

    status_code = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.param = param
        self.headers = headers or {}

    def body(self) -> ErrorResponse:
        return ErrorResponse(
            ErrorBody(type=self.type, code=self.code, message=self.message, param=self.param)
        )


class ValidationFailed(ServiceError):
    status_code = 422
    code = "parameter_invalid"


class NotFound(ServiceError):
    status_code = 404
    code = "resource_missing"


class Conflict(ServiceError):
    status_code = 409
    type = "conflict_error"
    code = "conflict"


class DatabaseBusy(ServiceError):
    status_code = 503
    type = "api_error"
    code = "database_busy"


class AuthenticationFailed(ServiceError):
    status_code = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(ServiceError):
    status_code = 403
    type = "permission_error"
    code = "forbidden"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(ServiceError):
    status_code = 429
    type = "rate_limit_error"
    code = "rate_limit"


class UpstreamError(ServiceError):
    status_code = 502
    type = "upstream_error"
    code = "stripe_error"


def error_response(exc: ServiceError) -> Response[ErrorResponse]:
    return Response(
        exc.body(), status_code=exc.status_code, headers=exc.headers, media_type=MediaType.JSON
    )


_MSGSPEC_PATH = re.compile(r" - at `\$((?:\.[^`.\[]+|\[\d+\])*)`$")


def _param_from_msgspec(message: str) -> tuple[str, str | None]:
    """Split msgspec's "… - at `$.a.b[0]`" into a message and a dotted param."""
    match = _MSGSPEC_PATH.search(message)
    if match is None:
        return message, None
    path = match.group(1).lstrip(".").replace(".[", "[")
    text = message[: match.start()]
    unknown = re.match(r"Object contains unknown field `([^`]+)`", text)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        text = f"Unknown field `{unknown.group(1)}`"
    missing = re.match(r"Object missing required field `([^`]+)`", text)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
        text = f"Missing required field `{missing.group(1)}`"
    return text, path or None


def _param_from_litestar(message: str, key: str | None) -> tuple[str, str | None]:
    """Litestar reports body errors as msgspec's message plus a `key` (`data` is the root)."""
    text, param = _param_from_msgspec(message)
    if param is not None:
        return text, param
    base = None if key in (None, "", "data") else key
    for pattern, label in (
        (r"Object contains unknown field `([^`]+)`", "Unknown field"),
        (r"Object missing required field `([^`]+)`", "Missing required field"),
    ):
        match = re.match(pattern, message)
        if match:
            name = match.group(1)
            return f"{label} `{name}`", f"{base}.{name}" if base else name
    return message, base


def _validation_handler(
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[ErrorResponse]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    message, param = exc.detail, None
    if extra:
        first = extra[0] if isinstance(extra[0], dict) else {}
        key = first.get("key")
        if key == "data" and first.get("message") == "'data'":
            # Litestar's KeyError for a required body that was not sent: unreadable, not invalid.
            return error_response(ServiceError("A JSON body is required."))
        message, param = _param_from_litestar(
            str(first.get("message", exc.detail)), str(key) if key else None
        )
    elif exc.detail:
        message, param = _param_from_msgspec(exc.detail)
    return error_response(ValidationFailed(message, param=param))


def _service_error_handler(_: Request[Any, Any, Any], exc: ServiceError) -> Response[ErrorResponse]:
    return error_response(exc)


_STATUS_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "missing_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "resource_missing"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("conflict_error", "conflict"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit"),
}


def _http_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorResponse]:
    status = exc.status_code
    type_, code = _STATUS_TYPES.get(status, ("api_error", "internal_error"))
    if status == 404 and exc.detail == "Not Found":
        message = "No such route."
    else:
        message = str(exc.detail)
    err = ServiceError(message, code=code, status_code=status, headers=dict(exc.headers or {}))
    err.type = type_
    return error_response(err)


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    err = ServiceError(
        "An internal error occurred.",
        code="internal_error",
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )
    err.type = "api_error"
    return error_response(err)


def _integrity_handler(
    request: Request[Any, Any, Any], exc: IntegrityError
) -> Response[ErrorResponse]:
    # A concurrent request wrote the same unique row between our read and our write
    # (writes to one account are serialised, so this is a race nothing else caught).
    # The request's transaction rolls back with this error response: nothing half-applied.
    # Only a unique clash is a race; a NOT NULL or foreign key violation is a bug (500).
    if not _is_unique_violation(exc):
        return _unhandled(request, exc)
    logger.warning("integrity error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        Conflict(
            "A concurrent request changed the same object; nothing was changed. Retry the request.",
            headers={"Retry-After": "1"},
        )
    )


def _is_unique_violation(exc: IntegrityError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL (asyncpg)
        return True
    return str(getattr(orig, "sqlite_errorname", "")) in {
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    }


# SQLite's lock waits, PostgreSQL's serialization failure, deadlock and lock timeout.
_CONTENTION_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _is_contention(exc: DBAPIError) -> bool:
    sqlite_error = str(getattr(exc.orig, "sqlite_errorname", ""))
    if sqlite_error.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    return getattr(exc.orig, "sqlstate", None) in _CONTENTION_SQLSTATES


def _database_handler(
    request: Request[Any, Any, Any], exc: DBAPIError | PoolTimeout
) -> Response[ErrorResponse]:
    if isinstance(exc, DBAPIError) and not _is_contention(exc):
        return _unhandled(request, exc)
    logger.warning("database busy on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        DatabaseBusy(
            "The database is busy with other changes; nothing was changed. Retry the request.",
            headers={"Retry-After": "1"},
        )
    )


# What a failed Stripe call means to the API's caller.
_STRIPE_STATUS: dict[StripeErrorKind, tuple[int, str, str]] = {
    StripeErrorKind.INVALID_REQUEST: (422, "invalid_request_error", "stripe_invalid_request"),
    StripeErrorKind.RESOURCE_MISSING: (404, "invalid_request_error", "resource_missing"),
    StripeErrorKind.AUTHENTICATION: (502, "upstream_error", "stripe_authentication"),
    StripeErrorKind.PERMISSION: (409, "conflict_error", "stripe_permission"),
    StripeErrorKind.ACCOUNT_INVALID: (409, "conflict_error", "account_invalid"),
    StripeErrorKind.RATE_LIMITED: (429, "rate_limit_error", "rate_limit"),
    StripeErrorKind.LOCK_TIMEOUT: (429, "rate_limit_error", "lock_timeout"),
    StripeErrorKind.IDEMPOTENCY_CONFLICT: (409, "conflict_error", "idempotency_conflict"),
    StripeErrorKind.IDEMPOTENCY_IN_FLIGHT: (409, "conflict_error", "idempotency_key_in_use"),
    StripeErrorKind.UPSTREAM_UNAVAILABLE: (502, "upstream_error", "stripe_unavailable"),
    StripeErrorKind.CONNECTION: (502, "upstream_error", "stripe_unreachable"),
    StripeErrorKind.SIGNATURE: (400, "invalid_request_error", "signature_invalid"),
}


def _stripe_handler(_: Request[Any, Any, Any], exc: StripeGatewayError) -> Response[ErrorResponse]:
    status, type_, code = _STRIPE_STATUS.get(exc.kind, (502, "upstream_error", "stripe_error"))
    headers = {"Retry-After": "1"} if status == 429 else {}
    message = f"Stripe: {exc.message}"
    if exc.request_id:
        message += f" (request {exc.request_id})"
    err = ServiceError(message, code=code, status_code=status, param=exc.param, headers=headers)
    err.type = type_
    return error_response(err)


def exception_handlers() -> ExceptionHandlersMap:
    handlers: ExceptionHandlersMap = {
        ValidationException: _validation_handler,
        ServiceError: _service_error_handler,
        StripeGatewayError: _stripe_handler,
        NotAuthorizedException: _http_handler,
        PermissionDeniedException: _http_handler,
        HTTPException: _http_handler,
        IntegrityError: _integrity_handler,
        DBAPIError: _database_handler,
        PoolTimeout: _database_handler,
        Exception: _unhandled,
    }
    return handlers
