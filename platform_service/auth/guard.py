"""The guard that gives every route its caller, and the checks routes use.

Every path is authenticated except the health probes, the OpenAPI document,
metrics and the Stripe webhook endpoints (those are signature-verified).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_service.auth.keys import Caller, authenticate
from platform_service.auth.sessions import ConsoleAuth, resolve_session
from platform_service.errors import AuthenticationFailed, Forbidden, NotFound
from platform_service.settings import Settings

SellerEditable = Literal["branding", "portal_settings"]

# HTML pages a browser opens: they also accept the console's session cookie. The JSON
# API stays Bearer-only, so a cookie can never be ridden cross-site into it.
COOKIE_PATHS = re.compile(r"^/ui(/|$)|^/accounts/[^/]+/branding/preview$")
# The `__Host-` name (Secure, no Domain, Path=/) is only usable over https.
COOKIE_NAME = "ps_session"
SECURE_COOKIE_NAME = "__Host-ps_session"

PUBLIC_PATHS = (
    "^/ui/login$",
    "^/health/",
    "^/schema",
    "^/metrics$",
    "^/v1/webhooks/",
    "^/static/",
    "^/accounts/[^/]+/onboarding/refresh",
)


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    """Reads `Authorization: Bearer <key>` and sets `request.user` to a `Caller`."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        path = connection.scope["path"]
        if not header and COOKIE_PATHS.match(path):
            cookie = connection.cookies.get(SECURE_COOKIE_NAME) or connection.cookies.get(
                COOKIE_NAME
            )
            signed_in = await self._session(connection, cookie) if cookie else None
            if signed_in is not None:
                return AuthenticationResult(user=signed_in[0], auth=signed_in[1])
            if path.startswith("/ui"):
                # The page itself sends the browser to the sign-in form.
                return AuthenticationResult(user=None, auth=None)
        if not header:
            raise AuthenticationFailed(
                "Missing API key: send `Authorization: Bearer <key>`.", code="missing_api_key"
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Malformed Authorization header: expected `Bearer <key>`.")
        caller = await self._caller(connection, token.strip())
        if caller is None:
            raise AuthenticationFailed("Unknown or revoked API key.")
        return AuthenticationResult(user=caller, auth=caller.key_id)

    @staticmethod
    async def _session(
        connection: ASGIConnection[Any, Any, Any, Any], token: str
    ) -> tuple[Caller, ConsoleAuth] | None:
        session_maker: async_sessionmaker[AsyncSession] = connection.app.state.session_maker
        async with session_maker() as session:
            return await resolve_session(session, token)

    @staticmethod
    async def _caller(connection: ASGIConnection[Any, Any, Any, Any], raw: str) -> Caller | None:
        session_maker: async_sessionmaker[AsyncSession] = connection.app.state.session_maker
        async with session_maker() as session:
            return await authenticate(session, raw)


def api_key_middleware() -> DefineMiddleware:
    # Every method is authenticated: Litestar's default skips OPTIONS and HEAD, which
    # left the route guards without a caller (a 500). The service serves no CORS
    # preflight, so an OPTIONS without a key is a 401 like any other request.
    return DefineMiddleware(ApiKeyMiddleware, exclude=list(PUBLIC_PATHS), exclude_http_methods=[])


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Route guard: admin keys only."""
    caller: Caller = connection.user
    if not caller.is_admin:
        raise Forbidden("This operation needs an admin API key.", code="admin_required")


def ensure_account_access(caller: Caller, account_id: str) -> None:
    """A seller asking for another seller's account gets the same 404 as for a missing one."""
    if not caller.can_access(account_id):
        raise NotFound(f"No such account: '{account_id}'", param="id")


def account_access(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Controller guard for paths under an account (`{account_id}`): admins, or that seller."""
    account_id = connection.path_params.get("account_id")
    if account_id is not None:
        ensure_account_access(connection.user, str(account_id))


def ensure_seller_may_edit(caller: Caller, settings: Settings, what: SellerEditable) -> None:
    """Sellers edit their own branding or portal settings only where the platform allows it."""
    if caller.is_admin:
        return
    if what == "branding":
        allowed, label, knob = settings.sellers_edit_branding, "branding", "BRANDING"
    else:
        allowed, label, knob = settings.sellers_edit_portal, "portal settings", "PORTAL"
    if not allowed:
        raise Forbidden(
            f"The platform does not let sellers edit their {label} "
            f"(PLATFORM_SELLERS_EDIT_{knob} is off); ask the platform to change it.",
            code=f"sellers_edit_{knob.lower()}_disabled",
        )


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.user
    return caller
