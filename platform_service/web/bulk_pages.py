"""Console pages of bulk jobs: the list, one job's progress (live over SSE), its items
(a dry run's diffs; failed and skipped rows), the CSV download, and its actions.

The wizard that makes jobs is `web.bulk_wizard`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, ServerSentEvent, Stream

from platform_service.bulk import service as bulk
from platform_service.bulk.models import TERMINAL_JOB_STATUSES
from platform_service.bulk.routes import csv_download
from platform_service.bulk.schemas import BulkItemOut
from platform_service.deps import AfterCommitDep, DbSession, SessionMakerDep
from platform_service.web.common import act, admin_caller
from platform_service.web.i18n import N_, gettext
from platform_service.web.render import page

ITEMS_SHOWN = 50
DIFFS_SHOWN = 100
FIELD_LABELS = {
    "display_name": N_("Display name"),
    "logo": N_("Logo"),
    "icon": N_("Icon"),
    "button_color": N_("Button colour"),
    "background_color": N_("Background colour"),
    "font_family": N_("Font"),
    "border_style": N_("Shapes"),
}


def shown_value(value: Any) -> str:
    """A diff value as people read it; unset is a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):  # shown as code, like the API's JSON
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def diff_rows(item: BulkItemOut) -> list[tuple[str, str | None, str, str]]:
    """(field code, its label if it has one, before, after) per changed field of an item."""
    return [
        (
            field,
            gettext(FIELD_LABELS[field]) if field in FIELD_LABELS else None,
            shown_value(change.get("before")),
            shown_value(change.get("after")),
        )
        for field, change in (item.diff or {}).items()
        if isinstance(change, dict)
    ]


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
        after: FromQuery[int | None] = None,
    ) -> Response[str]:
        admin_caller(request)
        job = await bulk.job_out(db_session, await bulk.get_job(db_session, job_id))
        failed = await bulk.list_items(
            db_session, job_id, status="failed", limit=ITEMS_SHOWN, starting_after=None
        )
        skipped = await bulk.list_items(
            db_session, job_id, status="skipped", limit=ITEMS_SHOWN, starting_after=None
        )
        diffs: list[tuple[BulkItemOut, list[tuple[str, str | None, str, str]]]] = []
        more_diffs = False
        if job.dry_run:
            found = await bulk.list_items(
                db_session, job_id, status=None, limit=DIFFS_SHOWN, starting_after=after
            )
            diffs = [(item, diff_rows(item)) for item in map(bulk.item_out, found.rows)]
            more_diffs = found.has_more
        done = job.succeeded + job.failed + job.skipped
        return page(
            request,
            "web/bulk_job.html",
            {
                "job": job,
                "error": (error or "")[:80] or None,
                "failed": [bulk.item_out(i) for i in failed.rows],
                "more_failed": failed.has_more,
                "skipped": [bulk.item_out(i) for i in skipped.rows],
                "more_skipped": skipped.has_more,
                "diffs": diffs,
                "more_diffs": more_diffs,
                "done": done,
                "finished": job.status in TERMINAL_JOB_STATUSES,
                "live": job.status in ("queued", "running"),
            },
        )

    @get("/{job_id:str}/events")
    async def bulk_job_events(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        session_maker: SessionMakerDep,
        job_id: FromPath[str],
    ) -> ServerSentEvent:
        """The API's progress events, for the job page open in a signed-in browser."""
        admin_caller(request)
        await bulk.get_job(db_session, job_id)
        return ServerSentEvent(bulk.progress(session_maker, job_id), event_type="progress")

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
