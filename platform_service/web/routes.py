"""`/ui`: the console. Sign in with an API key; then accounts, bulk jobs, the webhook
inbox and the audit log for operators, and their own account for sellers.

The pages read and act through the same services as the JSON API. Signing in
opens a server-side session (`auth.sessions`): the cookie holds its random token,
never the key. Only these pages (and the branding preview) accept that cookie;
the JSON API stays Bearer-only, so a cookie can't be ridden cross-site into it.
What a page links to for download (a job's items CSV) is served under `/ui` too.

Actions are form posts (origin-checked, with the session's CSRF token) answered
with a 303 back to a page; the request's writes commit on it like a JSON 200
(`db.transaction`, rule 1).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect

from platform_service.auth import audit
from platform_service.auth.keys import authenticate
from platform_service.auth.sessions import csrf_matches, open_session, revoke_session
from platform_service.deps import DbSession, PublicUrlDep
from platform_service.errors import NotFound
from platform_service.web.accounts import AccountPagesController
from platform_service.web.audit import AuditPageController
from platform_service.web.branding_pages import BrandingPagesController
from platform_service.web.bulk_pages import BulkPagesController
from platform_service.web.bulk_wizard import BulkWizardController
from platform_service.web.common import web_caller
from platform_service.web.errors import html_exception_handlers
from platform_service.web.i18n import LANGUAGE_COOKIE, LANGUAGES, gettext, translations
from platform_service.web.inbox import WebhookInboxController
from platform_service.web.portal_pages import PortalPagesController
from platform_service.web.render import TEMPLATES, page, signed_in
from platform_service.web.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    check_form_post,
    cleared_session_cookies,
    console_middleware,
    is_https,
    safe_next,
    same_origin,
    session_cookies,
)
from platform_service.web.sessions_pages import PortalSessionPagesController

__all__ = ["TEMPLATES", "web_router"]

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _landing(request: Request[Any, Any, Any]) -> str:
    caller = web_caller(request)
    return "/ui/accounts" if caller.is_admin else f"/ui/accounts/{caller.account_id}"


class LoginController(Controller):
    path = "/ui"
    include_in_schema = False

    def _form(
        self,
        request: Request[Any, Any, Any],
        *,
        next_path: str | None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        # A fresh token per form shown; the cookie only lives for the sign-in page.
        token = secrets.token_urlsafe(24)
        return page(
            request,
            "web/login.html",
            {"error": error, "login_token": token, "next": next_path or ""},
            status_code=status_code,
            cookies=[
                Cookie(
                    key=LOGIN_CSRF_COOKIE,
                    value=token,
                    httponly=True,
                    samesite="strict",
                    path="/ui/login",
                    max_age=3600,
                )
            ],
        )

    @get("/login")
    async def login_form(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Response[Any]:
        caller, _ = signed_in(request)
        if caller is not None:
            return Redirect(safe_next(next, _landing(request)), status_code=303)
        return self._form(request, next_path=safe_next(next, ""))

    @post("/login", status_code=303, opt={"csrf": "login"})
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        public_url: PublicUrlDep,
        data: FormData,
    ) -> Response[Any]:
        next_path = safe_next(data.get("next"), "")
        caller = await authenticate(db_session, data.get("key", "").strip())
        if caller is None:
            # Nothing is opened for an unknown key, so nothing needs the CSRF check yet.
            return self._form(
                request,
                next_path=next_path,
                error=gettext("That key is unknown or revoked."),
                status_code=401,
            )
        # Only a same-origin form that carries the token its page set may open a session:
        # a cross-site post can't sign a browser in with someone else's key.
        if not same_origin(request) or not csrf_matches(
            request.cookies.get(LOGIN_CSRF_COOKIE, ""), data.get(CSRF_FIELD)
        ):
            return self._form(
                request,
                next_path=next_path,
                error=gettext("This form has expired; please sign in again."),
                status_code=403,
            )
        token, _ = await open_session(db_session, caller)
        await audit.record(
            db_session, actor=caller.actor, action="console.signed_in", account_id=caller.account_id
        )
        landing = "/ui/accounts" if caller.is_admin else f"/ui/accounts/{caller.account_id}"
        cookies = session_cookies(token, secure=is_https(request, public_url))
        cookies.append(Cookie(key=LOGIN_CSRF_COOKIE, value="", max_age=0, path="/ui/login"))
        return Redirect(safe_next(next_path, landing), status_code=303, cookies=cookies)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], db_session: DbSession) -> Redirect:
        """Sign out: the session ends on the server, so a copied cookie stops working too."""
        caller = web_caller(request)
        _, auth = signed_in(request)
        if auth is not None:
            await revoke_session(db_session, auth.session_id)
            await audit.record(
                db_session,
                actor=caller.actor,
                action="console.signed_out",
                account_id=caller.account_id,
            )
        return Redirect("/ui/login", status_code=303, cookies=cleared_session_cookies())


class ConsoleController(Controller):
    path = "/ui"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        return Redirect(_landing(request), status_code=303)

    @get("/language/{language:str}")
    async def language(
        self, language: FromPath[str], next: FromQuery[str | None] = None
    ) -> Redirect:
        """Remember the language picked in the header (a preference, not a credential)."""
        if language not in LANGUAGES:
            raise NotFound("No such language.")
        return Redirect(
            safe_next(next, "/ui/"),
            status_code=303,
            cookies=[
                Cookie(
                    key=LANGUAGE_COOKIE,
                    value=language,
                    path="/",
                    samesite="lax",
                    httponly=True,
                    max_age=365 * 86400,
                )
            ],
        )

    @get("/static/{name:str}")
    async def static(self, name: FromPath[str]) -> Response[bytes]:
        """The console's own stylesheet and scripts (the CSP allows no inline ones)."""
        file = STATIC / name
        media_type = STATIC_TYPES.get(file.suffix)
        if media_type is None or file.parent != STATIC or not file.is_file():
            raise NotFound("No such file.")
        return Response(
            file.read_bytes(),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=300"},
        )

    @get(["/{rest:path}"])
    async def not_found(self, rest: FromPath[str]) -> None:
        """Any other console path is the console's 404 page, not the API's JSON."""
        raise NotFound(f"No such page: '/ui{rest[:80]}'")


def web_router() -> Router:
    # Compiled from the .po files now, so a broken catalogue stops the app from starting
    # instead of failing the first French page.
    for language in LANGUAGES:
        translations(language)
    return Router(
        path="/",
        route_handlers=[
            LoginController,
            ConsoleController,
            AccountPagesController,
            BulkPagesController,
            BulkWizardController,
            PortalSessionPagesController,
            WebhookInboxController,
            AuditPageController,
            BrandingPagesController,
            PortalPagesController,
        ],
        guards=[check_form_post],
        middleware=[console_middleware],
        exception_handlers=html_exception_handlers(),
    )
