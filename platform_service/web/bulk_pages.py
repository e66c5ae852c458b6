"""Console pages of bulk jobs: the list, one job's progress, and its actions."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream

from platform_service.bulk import service as bulk
from platform_service.bulk.routes import csv_download
from platform_service.deps import AfterCommitDep, DbSession, SessionMakerDep
from platform_service.web.common import act, admin_caller
from platform_service.web.render import page


class BulkPagesController(Controller):
    path = "/ui/bulk-jobs"
    include_in_schema = False

    @get("/")
    async def bulk_jobs(
        self, request: Request[Any, Any, Any], db_session: DbSession
    ) -> Response[str]:
        admin_caller(request)
        jobs = await bulk.recent_jobs(db_session, limit=50)
        return page(
            request,
            "web/bulk_jobs.html",
            {"jobs": [await bulk.job_out(db_session, j) for j in jobs]},
        )

    @get("/{job_id:str}")
    async def bulk_job(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        job_id: FromPath[str],
        error: FromQuery[str | None] = None,
    ) -> Response[str]:
        admin_caller(request)
        job = await bulk.job_out(db_session, await bulk.get_job(db_session, job_id))
        failed = await bulk.list_items(
            db_session, job_id, status="failed", limit=50, starting_after=None
        )
        done = job.succeeded + job.failed + job.skipped
        return page(
            request,
            "web/bulk_job.html",
            {
                "job": job,
                "error": (error or "")[:80] or None,
                "failed": [bulk.item_out(i) for i in failed.rows],
                "done": done,
                "live": job.status in ("queued", "running"),
            },
        )

    @get("/{job_id:str}/items.csv", media_type="text/csv")
    async def bulk_job_csv(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        session_maker: SessionMakerDep,
        job_id: FromPath[str],
    ) -> Stream:
        """The API's items CSV, for a browser signed in to the console."""
        admin_caller(request)
        await bulk.get_job(db_session, job_id)
        return csv_download(session_maker, job_id)

    @post("/{job_id:str}/cancel", status_code=303)
    async def cancel(
        self, request: Request[Any, Any, Any], db_session: DbSession, job_id: FromPath[str]
    ) -> Redirect:
        caller = admin_caller(request)
        return await act(
            db_session,
            lambda: bulk.cancel_job(db_session, job_id, actor=caller.actor),
            back=f"/ui/bulk-jobs/{job_id}",
        )

    @post("/{job_id:str}/resume", status_code=303)
    async def resume(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        after_commit: AfterCommitDep,
        job_id: FromPath[str],
    ) -> Redirect:
        """Approve a paused canary: the rest of the accounts follow."""
        caller = admin_caller(request)
        return await act(
            db_session,
            lambda: bulk.resume_job(db_session, after_commit, job_id, actor=caller.actor),
            back=f"/ui/bulk-jobs/{job_id}",
        )

    @post("/{job_id:str}/retry-failed", status_code=303)
    async def retry_failed(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        after_commit: AfterCommitDep,
        job_id: FromPath[str],
    ) -> Redirect:
        caller = admin_caller(request)
        return await act(
            db_session,
            lambda: bulk.retry_failed(db_session, after_commit, job_id, actor=caller.actor),
            back=f"/ui/bulk-jobs/{job_id}",
        )
