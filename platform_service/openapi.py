"""The API document's shared parts: the one error shape and which error statuses an operation answers.

Every route decorator declares its errors with `documented(...)`, built from the
groups below, so the document says what `errors.exception_handlers` really
answers: `{"error": {type, code, message, param?}}`, never Litestar's default
`{status_code, detail, extra}` (Litestar adds that 400 to any operation with
parameters; the service answers validation failures with a 422 instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Operation, Reference, Schema

from platform_service.errors import ErrorResponse

API_DESCRIPTION: Final = """\
Manage a Stripe Connect platform's connected accounts (sellers): onboarding, the branding
their customer portal shows, portal settings, portal sessions, and bulk changes across
thousands of accounts.

**Authentication.** Send `Authorization: Bearer <key>`. An admin key can do everything; a
seller key is bound to one connected account and sees only that account (another
account's id answers 404, as if it did not exist). The health probes and Stripe's webhook
endpoints need no key (webhooks are verified by their `Stripe-Signature`).

**Errors.** Every error has one shape, `{"error": {"type", "code", "message", "param"?}}`:
`code` is stable and machine-readable, `param` names the offending field when there is
one. Validation failures are 422, unreadable bodies 400.
"""

# The groups an operation's errors are built from.
# Any valid API key; a seller asking for another seller's account gets the 404 of a missing one.
AUTHENTICATED: Final = (401,)
# Admin keys only: a seller key gets 403 `admin_required`.
ADMIN: Final = (401, 403)
# Admins, or the account's seller where the platform lets sellers edit (403 otherwise).
SELLER_EDIT: Final = (401, 403)
# The path names an object that may not exist (or that the caller may not see); an id
# holding a control character is refused first with a 422 (`inputs`).
LOOKUP: Final = (404, 422)
# A body: 400 when it cannot be read, 415 when it is not sent as the operation's media
# type, 422 when it does not fit the schema or the rules.
BODY: Final = (400, 415, 422)
# Path or query parameters with constraints (ranges, enums, cursors that must name an object).
PARAMS: Final = (422,)
# The object's state forbids the operation.
CONFLICT: Final = (409,)
# A file upload: 413 past the size limit.
UPLOAD: Final = (413,)
# The operation calls Stripe: its refusals are mapped (see `errors._STRIPE_STATUS`).
STRIPE: Final = (404, 409, 422, 429, 502)
# The operation writes: a commit the database refuses, or a database too busy to take
# the write, answers 503 (`db.transaction`, `db.locks`); a race another write won, 409.
WRITE: Final = (409, 503)

_ERRORS: Final[dict[int, tuple[str, dict[str, str]]]] = {
    400: (
        "The request could not be read (a body that is not valid JSON).",
        {
            "type": "invalid_request_error",
            "code": "invalid_request",
            "message": "Malformed JSON: unexpected character at byte 1.",
        },
    ),
    401: (
        "No API key, a malformed `Authorization` header, or an unknown or revoked key.",
        {
            "type": "authentication_error",
            "code": "missing_api_key",
            "message": "Missing API key: send `Authorization: Bearer <key>`.",
        },
    ),
    403: (
        "The key may not do this: an admin key is needed, or the platform does not let "
        "sellers edit this.",
        {
            "type": "permission_error",
            "code": "admin_required",
            "message": "This operation needs an admin API key.",
        },
    ),
    404: (
        "No such object, or one the caller may not see (another seller's account); also "
        "Stripe's `resource_missing`.",
        {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": "No such account: 'acct_1Nv0FGQ9RKHgCVdK'",
            "param": "id",
        },
    ),
    409: (
        "The object's state forbids the operation (a finished job, a disconnected account, "
        "an idempotency conflict on Stripe), or a concurrent write changed it first "
        "(`conflict`, with `Retry-After`).",
        {
            "type": "conflict_error",
            "code": "job_finished",
            "message": "The job is already succeeded.",
        },
    ),
    413: (
        "The upload is too large.",
        {
            "type": "invalid_request_error",
            "code": "image_too_large",
            "message": "The image is larger than 512 KB.",
            "param": "file",
        },
    ),
    415: (
        "The body is not sent as the operation's media type (JSON, or multipart for uploads).",
        {
            "type": "invalid_request_error",
            "code": "unsupported_media_type",
            "message": "This operation reads a JSON body: send it with "
            "`Content-Type: application/json` (got text/plain).",
        },
    ),
    422: (
        "The request does not fit the schema or the service's rules; `param` names the field.",
        {
            "type": "invalid_request_error",
            "code": "parameter_invalid",
            "message": "Unknown field `colour`",
            "param": "colour",
        },
    ),
    429: (
        "Stripe's rate limit (or a lock timeout) outlasted the retries; retry after `Retry-After`.",
        {
            "type": "rate_limit_error",
            "code": "rate_limit",
            "message": "Stripe: Too many requests hit the API too quickly.",
        },
    ),
    502: (
        "Stripe failed or could not be reached.",
        {
            "type": "upstream_error",
            "code": "stripe_unavailable",
            "message": "Stripe: An error occurred with our connection to Stripe.",
        },
    ),
    503: (
        "Nothing was changed: the database refused the commit or was too busy to take the "
        "write (`database_busy`); retry after `Retry-After`.",
        {
            "type": "api_error",
            "code": "commit_failed",
            "message": "The change could not be saved (a concurrent write or the database "
            "refused it); nothing was changed. Retry the request.",
        },
    ),
}


def error_response(status: int, description: str | None = None, **example: str) -> ResponseSpec:
    """The error shape answered with `status`; `example` overrides the example's fields."""
    default_description, default_example = _ERRORS[status]
    body = {**default_example, **example}
    return ResponseSpec(
        data_container=ErrorResponse,
        generate_examples=False,
        description=description or default_description,
        examples=[Example(summary=body["code"], value={"error": body})],
    )


def documented(
    *groups: tuple[int, ...],
    responses: dict[int, ResponseSpec] | None = None,
    optional_body: bool = False,
) -> dict[str, Any]:
    """The `responses` and `operation_class` of a route decorator: `@get(..., **documented(ADMIN))`.

    `responses` adds or replaces entries (another success status, a specific error text).
    """
    specs = {status: error_response(status) for group in groups for status in group}
    specs.update(responses or {})
    return {
        "responses": dict(sorted(specs.items())),
        "operation_class": OptionalBodyOperation if optional_body else ServiceOperation,
    }


def _is_litestar_error_shape(response: Any) -> bool:
    """Litestar's own `{status_code, detail, extra}` schema (inline, never a component)."""
    for media in (getattr(response, "content", None) or {}).values():
        schema = media.schema
        if isinstance(schema, Reference) or not isinstance(schema, Schema):
            return False
        return set(schema.required or ()) == {"detail", "status_code"}
    return False


@dataclass
class ServiceOperation(Operation):
    """An operation without Litestar's default error responses: `documented` declares the real ones."""

    def __post_init__(self) -> None:
        if self.responses:
            self.responses = {
                status: response
                for status, response in self.responses.items()
                if not _is_litestar_error_shape(response)
            }


@dataclass
class OptionalBodyOperation(ServiceOperation):
    """An operation whose JSON body may be left out (Litestar declares every body required)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.request_body is not None and not isinstance(self.request_body, Reference):
            self.request_body.required = False
