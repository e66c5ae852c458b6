"""`/ui`: sign in with an API key, then accounts, an account's state, and bulk jobs.

The pages read and act through the same services as the JSON API. The key is
kept in an HttpOnly, SameSite=Strict cookie, which only these pages (and the
branding preview) accept; the JSON API stays Bearer-only, so a cookie can't be
ridden cross-site into it. What a page links to for download (a job's items
CSV) is therefore served under `/ui` too.

Actions are form posts answered with a 303 back to the page; the request's
writes commit on it like a JSON 200 (`db.transaction`, rule 1).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts
from platform_service.accounts.onboarding import OnboardingStatus, create_onboarding_link
from platform_service.auth.guard import COOKIE_NAME as COOKIE
from platform_service.auth.keys import Caller, authenticate
from platform_service.branding.service import effective_branding_for
from platform_service.bulk import service as bulk
from platform_service.bulk.models import BulkJob
from platform_service.bulk.routes import csv_download
from platform_service.deps import (
    AfterCommitDep,
    DbSession,
    GatewayDep,
    PublicUrlDep,
    SessionMakerDep,
)
from platform_service.errors import NotFound, ServiceError
from platform_service.portal.settings import get_account_settings

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


def _admin(request: Request[Any, Any, Any]) -> Caller:
    """The signed-in caller, an admin: anyone else gets the 404 of a missing page."""
    caller = web_caller(request)
    if not caller.is_admin:
        raise NotFound("No such page.")
    return caller


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
        caller = _admin(request)
        valid_status = status if status in {s.value for s in OnboardingStatus} else None
        page = await accounts.list_accounts(
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
                "accounts": [accounts.account_out(r) for r in page.rows],
                "has_more": page.has_more,
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
        row = await accounts.get_account(db_session, account_id)
        branding = await effective_branding_for(db_session, row)
        portal = await get_account_settings(db_session, account_id)
        return Template(
            template_name="web/account.html",
            context={
                "caller": caller,
                "account": accounts.account_out(row),
                "branding": branding,
                "portal": portal,
            },
        )

    @post("/accounts/{account_id:str}/onboarding-link", status_code=303)
    async def onboarding_link(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        public_url: PublicUrlDep,
        account_id: FromPath[str],
    ) -> Redirect:
        """Mint a hosted onboarding link and send the browser there; it comes back to this page."""
        caller = web_caller(request)
        if not caller.can_access(account_id):
            raise NotFound(f"No such account: '{account_id}'")
        # The link's refresh token is written in this request: the 303 commits it.
        url, _ = await create_onboarding_link(
            db_session,
            gateway,
            account_id,
            link_type="onboarding",
            return_url=f"{public_url.rstrip('/')}/ui/accounts/{account_id}",
            refresh_url=None,
            public_url=public_url,
            actor=caller.actor,
            nonce=secrets.token_hex(8),
        )
        return Redirect(url, status_code=303)

    @get("/bulk-jobs")
    async def bulk_jobs(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        caller = _admin(request)
        jobs = await bulk.recent_jobs(db_session, limit=50)
        return Template(
            template_name="web/bulk_jobs.html",
            context={"caller": caller, "jobs": [await bulk.job_out(db_session, j) for j in jobs]},
        )

    @get("/bulk-jobs/{job_id:str}")
    async def bulk_job(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        job_id: FromPath[str],
        error: FromQuery[str | None] = None,
    ) -> Template:
        caller = _admin(request)
        job = await bulk.job_out(db_session, await bulk.get_job(db_session, job_id))
        failed = await bulk.list_items(
            db_session, job_id, status="failed", limit=50, starting_after=None
        )
        done = job.succeeded + job.failed + job.skipped
        return Template(
            template_name="web/bulk_job.html",
            context={
                "caller": caller,
                "job": job,
                "error": error,
                "failed": [bulk.item_out(i) for i in failed.rows],
                "percent": int(100 * done / job.total) if job.total else 100,
                "live": job.status in ("queued", "running"),
            },
        )

    @get("/bulk-jobs/{job_id:str}/items.csv", media_type="text/csv")
    async def bulk_job_csv(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        session_maker: SessionMakerDep,
        job_id: FromPath[str],
    ) -> Stream:
        """The API's items CSV, for a browser signed in with the console cookie."""
        _admin(request)
        await bulk.get_job(db_session, job_id)
        return csv_download(session_maker, job_id)

    @post("/bulk-jobs/{job_id:str}/cancel", status_code=303)
    async def cancel(
        self, request: Request[Any, Any, Any], db_session: DbSession, job_id: FromPath[str]
    ) -> Redirect:
        caller = _admin(request)
        return await _act(
            db_session, job_id, lambda: bulk.cancel_job(db_session, job_id, actor=caller.actor)
        )

    @post("/bulk-jobs/{job_id:str}/resume", status_code=303)
    async def resume(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        after_commit: AfterCommitDep,
        job_id: FromPath[str],
    ) -> Redirect:
        """Approve a paused canary: the rest of the accounts follow."""
        caller = _admin(request)
        return await _act(
            db_session,
            job_id,
            lambda: bulk.resume_job(db_session, after_commit, job_id, actor=caller.actor),
        )

    @post("/bulk-jobs/{job_id:str}/retry-failed", status_code=303)
    async def retry_failed(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        after_commit: AfterCommitDep,
        job_id: FromPath[str],
    ) -> Redirect:
        caller = _admin(request)
        return await _act(
            db_session,
            job_id,
            lambda: bulk.retry_failed(db_session, after_commit, job_id, actor=caller.actor),
        )


async def _act(
    session: AsyncSession, job_id: str, action: Callable[[], Awaitable[BulkJob]]
) -> Redirect:
    """Run a job action and go back to the job's page, with the refusal's code if refused.

    The redirect commits the request (2xx and 3xx do), so a refused action runs in a
    savepoint: whatever it wrote before refusing is rolled back, not committed.
    """
    try:
        async with session.begin_nested():
            await action()
    except ServiceError as exc:
        return Redirect(f"/ui/bulk-jobs/{job_id}?error={exc.code}", status_code=303)
    return Redirect(f"/ui/bulk-jobs/{job_id}", status_code=303)


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[LoginController, PagesController],
        exception_handlers={LoginRequired: login_redirect},
    )
