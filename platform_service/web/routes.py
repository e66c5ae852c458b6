"""`/ui`: sign in with an API key, then accounts, an account's state, and bulk jobs.

The pages read and act through the same services as the JSON API. The key is
kept in an HttpOnly, SameSite=Strict cookie, which only these pages (and the
branding preview) accept; the JSON API stays Bearer-only, so a cookie can't be
ridden cross-site into it.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select

from platform_service.accounts import service as accounts
from platform_service.accounts.onboarding import OnboardingStatus
from platform_service.auth.guard import COOKIE_NAME as COOKIE
from platform_service.auth.keys import Caller, authenticate
from platform_service.branding.service import effective_branding
from platform_service.bulk import service as bulk
from platform_service.bulk.models import BulkJob
from platform_service.deps import DbSession, RuntimeDep
from platform_service.errors import NotFound, ServiceError
from platform_service.portal.service import get_account_settings

TEMPLATES = Path(__file__).parent / "templates"


class LoginRequired(Exception):
    """The page needs a signed-in caller."""


def login_redirect(_: Request[Any, Any, Any], __: LoginRequired) -> Response[Any]:
    return Redirect("/ui/login", status_code=303)


def web_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller | None = request.scope.get("user")
    if caller is None:
        raise LoginRequired
    return caller


def _require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise NotFound("No such page.")


class LoginController(Controller):
    path = "/ui"
    include_in_schema = False

    @get("/login")
    async def login_form(self) -> Template:
        return Template(template_name="web/login.html", context={"error": None})

    @post("/login", status_code=303)
    async def login(
        self,
        db_session: DbSession,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        caller = await authenticate(db_session, data.get("key", "").strip())
        if caller is None:
            return Template(
                template_name="web/login.html",
                context={"error": "That key is unknown or revoked."},
                status_code=401,
            )
        target = "/ui/accounts" if caller.is_admin else f"/ui/accounts/{caller.account_id}"
        return Redirect(
            target,
            status_code=303,
            cookies=[
                Cookie(
                    key=COOKIE,
                    value=data["key"].strip(),
                    httponly=True,
                    samesite="strict",
                    path="/",
                )
            ],
        )

    @post("/logout", status_code=303)
    async def logout(self) -> Redirect:
        return Redirect(
            "/ui/login",
            status_code=303,
            cookies=[Cookie(key=COOKIE, value="", max_age=0, path="/")],
        )


class PagesController(Controller):
    path = "/ui"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        caller = web_caller(request)
        return Redirect(
            "/ui/accounts" if caller.is_admin else f"/ui/accounts/{caller.account_id}",
            status_code=303,
        )

    @get("/accounts")
    async def account_list(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        q: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> Template:
        caller = web_caller(request)
        _require_admin(caller)
        valid_status = status if status in {s.value for s in OnboardingStatus} else None
        rows, has_more = await accounts.list_accounts(
            db_session,
            limit=50,
            q=q or None,
            status=valid_status,
            starting_after=starting_after or None,
        )
        return Template(
            template_name="web/accounts.html",
            context={
                "caller": caller,
                "accounts": [accounts.account_out(r) for r in rows],
                "has_more": has_more,
                "q": q or "",
                "status": valid_status or "",
                "statuses": [s.value for s in OnboardingStatus],
            },
        )

    @get("/accounts/{account_id:str}")
    async def account_page(
        self, request: Request[Any, Any, Any], db_session: DbSession, account_id: FromPath[str]
    ) -> Template:
        caller = web_caller(request)
        if not caller.can_access(account_id):
            raise NotFound(f"No such account: '{account_id}'")
        account = accounts.account_out(await accounts.get_account(db_session, account_id))
        branding = await effective_branding(db_session, account_id)
        portal = await get_account_settings(db_session, account_id)
        return Template(
            template_name="web/account.html",
            context={"caller": caller, "account": account, "branding": branding, "portal": portal},
        )

    @post("/accounts/{account_id:str}/onboarding-link", status_code=303)
    async def onboarding_link(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        runtime: RuntimeDep,
        account_id: FromPath[str],
    ) -> Redirect:
        """Mint a hosted onboarding link and send the browser there; it comes back to this page."""
        caller = web_caller(request)
        if not caller.can_access(account_id):
            raise NotFound(f"No such account: '{account_id}'")
        back = f"{runtime.public_url.rstrip('/')}/ui/accounts/{account_id}"
        url, _ = await accounts.create_onboarding_link(
            db_session,
            runtime.gateway,
            account_id,
            link_type="onboarding",
            return_url=back,
            refresh_url=None,
            public_url=runtime.public_url,
            actor=caller.actor,
            nonce=secrets.token_hex(8),
        )
        return Redirect(url, status_code=303)

    @get("/bulk-jobs")
    async def bulk_jobs(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        caller = web_caller(request)
        _require_admin(caller)
        jobs = list(
            await db_session.scalars(select(BulkJob).order_by(BulkJob.created_at.desc()).limit(50))
        )
        return Template(
            template_name="web/bulk_jobs.html",
            context={"caller": caller, "jobs": [await bulk.job_out(db_session, j) for j in jobs]},
        )

    @get("/bulk-jobs/{job_id:str}")
    async def bulk_job(
        self, request: Request[Any, Any, Any], db_session: DbSession, job_id: FromPath[str]
    ) -> Template:
        caller = web_caller(request)
        _require_admin(caller)
        job = await bulk.job_out(db_session, await bulk.get_job(db_session, job_id))
        failed, _ = await bulk.list_items(
            db_session, job_id, status="failed", limit=50, starting_after=None
        )
        done = job.succeeded + job.failed + job.skipped
        return Template(
            template_name="web/bulk_job.html",
            context={
                "caller": caller,
                "job": job,
                "failed": [bulk.item_out(i) for i in failed],
                "percent": int(100 * done / job.total) if job.total else 100,
                "live": job.status in ("queued", "running"),
            },
        )

    @post("/bulk-jobs/{job_id:str}/{action:str}", status_code=303)
    async def bulk_action(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        runtime: RuntimeDep,
        job_id: FromPath[str],
        action: FromPath[str],
    ) -> Response[Any]:
        caller = web_caller(request)
        _require_admin(caller)
        actions = {
            "cancel": bulk.cancel_job,
            "resume": bulk.resume_job,
            "retry-failed": bulk.retry_failed,
        }
        if action not in actions:
            raise NotFound("No such action.")
        try:
            await actions[action](db_session, runtime, job_id, actor=caller.actor)
        except ServiceError as exc:
            return Redirect(f"/ui/bulk-jobs/{job_id}?error={exc.code}", status_code=303)
        return Redirect(f"/ui/bulk-jobs/{job_id}", status_code=303)


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[LoginController, PagesController],
        exception_handlers={LoginRequired: login_redirect},
    )
