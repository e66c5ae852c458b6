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
from platform_service.inputs import BIGINT_MAX, key_parameter
from platform_service.openapi import (
    ADMIN,
    BODY,
    CONFLICT,
    LOOKUP,
    PARAMS,
    STRIPE,
    WRITE,
    documented,
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
        **documented(ADMIN, BODY, STRIPE, WRITE),
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

    @get(
        "/{job_id:str}",
        operation_id="RetrieveBulkJob",
        summary="A bulk job's progress",
        description="Counts per item status, the measured rate and an estimate of the time left.",
        **documented(ADMIN, LOOKUP),
    )
    async def get_job(self, db_session: DbSession, job_id: FromPath[str]) -> BulkJobOut:
        return await service.job_out(db_session, await service.get_job(db_session, job_id))

    @get(
        "/{job_id:str}/items",
        operation_id="ListBulkJobItems",
        summary="A bulk job's per-account results",
        description="One item per target account, in order; keyset pages on `starting_after` "
        "(an item id). Failed items carry Stripe's error code, message and param.",
        **documented(ADMIN, LOOKUP, PARAMS),
    )
    async def list_items(
        self,
        db_session: DbSession,
        job_id: FromPath[str],
        status: FromQuery[ItemStatus | None] = None,
        starting_after: FromQuery[Annotated[int | None, key_parameter(BIGINT_MAX)]] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> BulkItemList:
        await service.get_job(db_session, job_id)
        page = await service.list_items(
            db_session, job_id, status=status, limit=limit, starting_after=starting_after
        )
        return BulkItemList(data=[service.item_out(r) for r in page.rows], has_more=page.has_more)

    @get(
        "/{job_id:str}/items.csv",
        operation_id="ExportBulkJobItems",
        media_type="text/csv",
        summary="A bulk job's items as CSV",
        **documented(ADMIN, LOOKUP),
    )
    async def items_csv(
        self, db_session: DbSession, session_maker: SessionMakerDep, job_id: FromPath[str]
    ) -> Stream:
        """Every item as CSV, streamed page by page (flat memory whatever the job's size)."""
        await service.get_job(db_session, job_id)
        return csv_download(session_maker, job_id)

    @get(
        "/{job_id:str}/events",
        operation_id="StreamBulkJobEvents",
        summary="Follow a bulk job (server-sent events)",
        media_type="text/event-stream",
        response_description="`progress` events, each a bulk job object as JSON.",
        **documented(ADMIN, LOOKUP),
    )
    async def events(
        self, db_session: DbSession, session_maker: SessionMakerDep, job_id: FromPath[str]
    ) -> ServerSentEvent:
        """Server-sent progress events, one a second, until the job ends."""
        await service.get_job(db_session, job_id)
        return ServerSentEvent(service.progress(session_maker, job_id), event_type="progress")

    @post(
        "/{job_id:str}/cancel",
        operation_id="CancelBulkJob",
        status_code=HTTP_200_OK,
        summary="Cancel a bulk job",
        description="Items not yet applied end `skipped`; those already applied stay applied. "
        "409 when the job has already ended.",
        **documented(ADMIN, LOOKUP, CONFLICT, WRITE),
    )
    async def cancel(
        self, db_session: DbSession, caller: CallerDep, job_id: FromPath[str]
    ) -> BulkJobOut:
        job = await service.cancel_job(db_session, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)

    @post(
        "/{job_id:str}/resume",
        operation_id="ResumeBulkJob",
        status_code=HTTP_200_OK,
        summary="Approve a paused canary",
        **documented(ADMIN, LOOKUP, CONFLICT, WRITE),
    )
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
        summary="Run a bulk job's failed items again",
        description="The failed items go back to pending and the job runs them again, with "
        "the same idempotency keys, so nothing is applied twice.",
        **documented(ADMIN, LOOKUP, CONFLICT, WRITE),
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
