"""`/v1/bulk-jobs`: submit, follow (JSON, CSV, SSE), cancel, resume, retry."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import ServerSentEvent, Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from platform_service.auth.guard import admin_only
from platform_service.bulk import service
from platform_service.bulk.schemas import BulkItemList, BulkJobCreate, BulkJobOut
from platform_service.deps import (
    AfterCommitDep,
    CallerDep,
    DbSession,
    GatewayDep,
    SessionMakerDep,
    SettingsDep,
)

ItemStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]


def csv_download(session_maker: SessionMakerDep, job_id: str) -> Stream:
    """The items CSV as an attachment (the API and the console serve the same file)."""
    return Stream(
        service.items_csv(session_maker, job_id),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-items.csv"'},
    )


class BulkJobController(Controller):
    path = "/v1/bulk-jobs"
    tags = ["Bulk jobs"]
    guards = [admin_only]

    @post(
        operation_id="CreateBulkJob",
        status_code=HTTP_202_ACCEPTED,
        summary="Push a change to many accounts",
    )
    async def create_job(
        self,
        data: JSONBody[BulkJobCreate],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
        settings: SettingsDep,
        caller: CallerDep,
    ) -> BulkJobOut:
        """The job and one item per target account are stored before anything is sent to Stripe."""
        job = await service.create_job(
            db_session, gateway, after_commit, settings, data, actor=caller.actor
        )
        return await service.job_out(db_session, job)

    @get("/{job_id:str}", operation_id="RetrieveBulkJob")
    async def get_job(self, db_session: DbSession, job_id: FromPath[str]) -> BulkJobOut:
        return await service.job_out(db_session, await service.get_job(db_session, job_id))

    @get("/{job_id:str}/items", operation_id="ListBulkJobItems")
    async def list_items(
        self,
        db_session: DbSession,
        job_id: FromPath[str],
        status: FromQuery[ItemStatus | None] = None,
        starting_after: FromQuery[int | None] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> BulkItemList:
        await service.get_job(db_session, job_id)
        page = await service.list_items(
            db_session, job_id, status=status, limit=limit, starting_after=starting_after
        )
        return BulkItemList(data=[service.item_out(r) for r in page.rows], has_more=page.has_more)

    @get("/{job_id:str}/items.csv", operation_id="ExportBulkJobItems", media_type="text/csv")
    async def items_csv(
        self, db_session: DbSession, session_maker: SessionMakerDep, job_id: FromPath[str]
    ) -> Stream:
        """Every item as CSV, streamed page by page (flat memory whatever the job's size)."""
        await service.get_job(db_session, job_id)
        return csv_download(session_maker, job_id)

    @get("/{job_id:str}/events", operation_id="StreamBulkJobEvents")
    async def events(
        self, db_session: DbSession, session_maker: SessionMakerDep, job_id: FromPath[str]
    ) -> ServerSentEvent:
        """Server-sent progress events, one a second, until the job ends."""
        await service.get_job(db_session, job_id)
        return ServerSentEvent(service.progress(session_maker, job_id), event_type="progress")

    @post("/{job_id:str}/cancel", operation_id="CancelBulkJob", status_code=HTTP_200_OK)
    async def cancel(
        self, db_session: DbSession, caller: CallerDep, job_id: FromPath[str]
    ) -> BulkJobOut:
        job = await service.cancel_job(db_session, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)

    @post("/{job_id:str}/resume", operation_id="ResumeBulkJob", status_code=HTTP_200_OK)
    async def resume(
        self,
        db_session: DbSession,
        after_commit: AfterCommitDep,
        caller: CallerDep,
        job_id: FromPath[str],
    ) -> BulkJobOut:
        """Approve a paused canary: apply to the remaining accounts."""
        job = await service.resume_job(db_session, after_commit, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)

    @post(
        "/{job_id:str}/retry-failed",
        operation_id="RetryFailedBulkJobItems",
        status_code=HTTP_200_OK,
    )
    async def retry_failed(
        self,
        db_session: DbSession,
        after_commit: AfterCommitDep,
        caller: CallerDep,
        job_id: FromPath[str],
    ) -> BulkJobOut:
        job = await service.retry_failed(db_session, after_commit, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)
