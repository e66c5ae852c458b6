"""`/v1/bulk-jobs`: submit, follow (JSON, CSV, SSE), cancel, resume, retry."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import ServerSentEvent, Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from platform_service.auth.guard import admin_only
from platform_service.bulk import service
from platform_service.bulk.models import TERMINAL_JOB_STATUSES
from platform_service.bulk.schemas import BulkItemList, BulkJobCreate, BulkJobOut
from platform_service.deps import CallerDep, DbSession, RuntimeDep

ItemStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]
CSV_COLUMNS = (
    "account_id",
    "status",
    "attempts",
    "error_code",
    "error_param",
    "error_message",
    "finished_at",
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
        runtime: RuntimeDep,
        caller: CallerDep,
    ) -> BulkJobOut:
        """The job and one item per target account are stored before anything is sent to Stripe."""
        job = await service.create_job(db_session, runtime, data, actor=caller.actor)
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
        rows, has_more = await service.list_items(
            db_session, job_id, status=status, limit=limit, starting_after=starting_after
        )
        return BulkItemList(data=[service.item_out(r) for r in rows], has_more=has_more)

    @get("/{job_id:str}/items.csv", operation_id="ExportBulkJobItems", media_type="text/csv")
    async def items_csv(
        self, runtime: RuntimeDep, db_session: DbSession, job_id: FromPath[str]
    ) -> Stream:
        """Every item as CSV, streamed page by page (flat memory whatever the job's size)."""
        await service.get_job(db_session, job_id)

        async def rows() -> AsyncIterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_COLUMNS)
            cursor: int | None = None
            while True:
                async with runtime.session() as session:
                    page, more = await service.list_items(
                        session, job_id, status=None, limit=1000, starting_after=cursor
                    )
                for item in page:
                    writer.writerow(
                        [
                            item.account_id,
                            item.status,
                            item.attempts,
                            item.error_code or "",
                            item.error_param or "",
                            item.error_message or "",
                            item.finished_at.isoformat() if item.finished_at else "",
                        ]
                    )
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if not more or not page:
                    return
                cursor = page[-1].seq

        return Stream(
            rows(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{job_id}-items.csv"'},
        )

    @get("/{job_id:str}/events", operation_id="StreamBulkJobEvents")
    async def events(
        self, runtime: RuntimeDep, db_session: DbSession, job_id: FromPath[str]
    ) -> ServerSentEvent:
        """Server-sent progress events, one a second, until the job ends."""
        await service.get_job(db_session, job_id)

        async def progress() -> AsyncGenerator[str, None]:
            last = None
            while True:
                async with runtime.session() as session:
                    out = await service.job_out(session, await service.get_job(session, job_id))
                payload = msgspec.json.encode(out).decode()
                if payload != last:
                    yield payload
                    last = payload
                if out.status in TERMINAL_JOB_STATUSES:
                    return
                await asyncio.sleep(1.0)

        return ServerSentEvent(progress(), event_type="progress")

    @post("/{job_id:str}/cancel", operation_id="CancelBulkJob", status_code=HTTP_200_OK)
    async def cancel(
        self, db_session: DbSession, runtime: RuntimeDep, caller: CallerDep, job_id: FromPath[str]
    ) -> BulkJobOut:
        job = await service.cancel_job(db_session, runtime, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)

    @post("/{job_id:str}/resume", operation_id="ResumeBulkJob", status_code=HTTP_200_OK)
    async def resume(
        self, db_session: DbSession, runtime: RuntimeDep, caller: CallerDep, job_id: FromPath[str]
    ) -> BulkJobOut:
        """Approve a paused canary: apply to the remaining accounts."""
        job = await service.resume_job(db_session, runtime, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)

    @post(
        "/{job_id:str}/retry-failed",
        operation_id="RetryFailedBulkJobItems",
        status_code=HTTP_200_OK,
    )
    async def retry_failed(
        self, db_session: DbSession, runtime: RuntimeDep, caller: CallerDep, job_id: FromPath[str]
    ) -> BulkJobOut:
        job = await service.retry_failed(db_session, runtime, job_id, actor=caller.actor)
        return await service.job_out(db_session, job)
