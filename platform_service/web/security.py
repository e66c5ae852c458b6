"""What keeps the console safe in a browser: headers on every response, form posts
checked for origin and CSRF token, cookies set the strict way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from platform_service.auth.guard import COOKIE_NAME, SECURE_COOKIE_NAME
from platform_service.auth.sessions import SESSION_LIFETIME, ConsoleAuth, csrf_matches
from platform_service.errors import Forbidden
from platform_service.web.i18n import LANGUAGE_COOKIE, negotiate, speaking

# No inline script or style anywhere: the console's own files only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        # The branding editor frames the portal preview, served by this origin.
        "frame-src 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    # Same-origin posts keep their Referer (the origin check's fallback); links out
    # to Stripe carry none.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
CSRF_FIELD = "csrf_token"
# Before sign-in there is no session to bind a token to: the form's token is
# checked against this cookie instead (double submit).
LOGIN_CSRF_COOKIE = "ps_login_csrf"


class LoginRequired(Exception):
    """The page needs a signed-in caller."""


def console_middleware(app: ASGIApp) -> ASGIApp:
    """Every console response speaks the request's language and carries the security headers."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope)
        language = negotiate(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers.setdefault("content-language", language)
                headers.add("vary", "Accept-Language, Cookie")
            await send(message)

        with speaking(language):
            await app(scope, receive, send_with_headers)

    return middleware


def same_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """The post comes from a page of this host (Origin, or Referer where Origin is absent)."""
    host = connection.headers.get("host", "")
    origin = connection.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc == host
    referer = connection.headers.get("referer")
    return bool(referer) and urlsplit(referer).netloc == host


async def form_field(connection: ASGIConnection[Any, Any, Any, Any], name: str) -> str | None:
    # The form is parsed once per request (Litestar keeps it in the scope), so the
    # handler's own `data` reads the same parse.
    if not isinstance(connection, Request):
        return None
    value = (await connection.form()).get(name)
    return value if isinstance(value, str) else None


async def check_form_post(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Router guard: a console POST comes from this origin and carries its session's token.

    The sign-in form (`opt={"csrf": "login"}`) is checked by its handler: before a
    session exists only the double-submit cookie can be compared.
    """
    if connection.scope.get("method") != "POST" or handler.opt.get("csrf") == "login":
        return
    auth = connection.scope.get("auth")
    if not isinstance(auth, ConsoleAuth):
        raise LoginRequired
    if not same_origin(connection):
        raise Forbidden("This form was not sent from the console.", code="origin_mismatch")
    if not csrf_matches(auth.csrf_token, await form_field(connection, CSRF_FIELD)):
        raise Forbidden("This form has expired; reload the page.", code="csrf_token_invalid")


def is_https(request: Request[Any, Any, Any], public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def session_cookies(token: str, *, secure: bool) -> list[Cookie]:
    """The sign-in cookie (and the removal of the other scheme's, if a browser holds one)."""
    name, other = (SECURE_COOKIE_NAME, COOKIE_NAME) if secure else (COOKIE_NAME, SECURE_COOKIE_NAME)
    return [
        Cookie(
            key=name,
            value=token,
            httponly=True,
            secure=secure,
            samesite="strict",
            path="/",
            max_age=int(SESSION_LIFETIME.total_seconds()),
        ),
        Cookie(key=other, value="", max_age=0, path="/", secure=other == SECURE_COOKIE_NAME),
    ]


def cleared_session_cookies() -> list[Cookie]:
    return [
        Cookie(key=COOKIE_NAME, value="", max_age=0, path="/", httponly=True, samesite="strict"),
        Cookie(
            key=SECURE_COOKIE_NAME,
            value="",
            max_age=0,
            path="/",
            httponly=True,
            samesite="strict",
            secure=True,
        ),
    ]


def safe_next(target: str | None, default: str) -> str:
    """A post-sign-in or language-switch destination: a console path, never another site."""
    if not target or not target.startswith("/ui") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target
