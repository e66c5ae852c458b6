"""Bulk jobs: submit (persisting the job and every item first), read progress, control."""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import hashlib
import io
import math
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import msgspec
from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_service.accounts.models import ConnectedAccount
from platform_service.auth import audit
from platform_service.bulk.appliers import BulkApplier, appliers, named_in_patch
from platform_service.bulk.models import TERMINAL_JOB_STATUSES, BulkJob, BulkJobItem
from platform_service.bulk.schemas import BulkItemOut, BulkJobCreate, BulkJobOut, CanaryOut
from platform_service.db.base import utcnow
from platform_service.db.lookup import get_or_404
from platform_service.errors import Conflict, ValidationFailed
from platform_service.jobs.outbox import AfterCommit
from platform_service.pagination import Page, keyset_page
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway

Purpose = TypeVar("Purpose", bound=str)
_INSERT_CHUNK = 1000
RATE_WINDOW_S = 10
CSV_COLUMNS = (
    "account_id",
    "status",
    "attempts",
    "error_code",
    "error_param",
    "error_message",
    "finished_at",
)


def patch_version(kind: str, patch: dict[str, Any]) -> str:
    return hashlib.sha256(msgspec.json.encode([kind, patch], order="sorted")).hexdigest()[:16]


def applier_for(kind: str) -> BulkApplier:
    """The applier of `kind`; a kind nobody implements is the submitter's error."""
    found = appliers().get(kind)
    if found is None:
        raise ValidationFailed(f"Unknown kind: '{kind}'", param="kind")
    return found


def _decode_files(files: Mapping[Purpose, str] | None) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for purpose, encoded in (files or {}).items():
        try:
            decoded[purpose] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailed("Not valid base64.", param=f"files.{purpose}") from exc
    return decoded


async def create_job(
    session: AsyncSession,
    gateway: StripeGateway,
    after_commit: AfterCommit,
    settings: Settings,
    data: BulkJobCreate,
    *,
    actor: str,
) -> BulkJob:
    """Validate, upload images once, persist the job and one item per target account, enqueue."""
    target = data.target
    if (target.account_ids is None) == (target.filter is None):
        raise ValidationFailed(
            "Give exactly one of target.account_ids or target.filter.", param="target"
        )
    if target.filter is not None and not (
        target.filter.all
        or target.filter.charge_model
        or target.filter.country
        or target.filter.status
    ):
        raise ValidationFailed(
            "An empty filter would target every account: set filter.all=true to mean it.",
            param="target.filter",
        )
    applier = applier_for(data.kind)
    # Files are uploaded here, once, on the platform; every item reuses their ids.
    with named_in_patch():
        patch = await applier.prepare(
            session, gateway, settings, dict(data.patch), _decode_files(data.files)
        )
        if not patch:
            raise ValidationFailed("The patch is empty.", param="patch")
        applier.validate(patch)

    job = BulkJob(
        kind=data.kind,
        target=msgspec.to_builtins(target),
        patch=patch,
        patch_version=patch_version(data.kind, patch),
        dry_run=data.dry_run,
        actor=actor,
    )
    session.add(job)
    await session.flush()
    if target.account_ids is not None:
        await _insert_listed(session, job.id, target.account_ids)
    else:
        assert target.filter is not None
        stmt = select(
            literal(job.id), ConnectedAccount.id, literal("pending"), literal(False), literal(0)
        ).where(ConnectedAccount.disconnected_at.is_(None))
        f = target.filter
        if f.charge_model:
            stmt = stmt.where(ConnectedAccount.charge_model == f.charge_model.value)
        if f.country:
            stmt = stmt.where(ConnectedAccount.country == f.country)
        if f.status:
            stmt = stmt.where(ConnectedAccount.status == f.status.value)
        # One set-based statement: a million-account job is planned without
        # loading it into this process.
        await session.execute(
            insert(BulkJobItem).from_select(
                ["job_id", "account_id", "status", "canary", "attempts"],
                stmt.order_by(ConnectedAccount.seq),
            )
        )
    job.total = int(
        await session.scalar(select(func.count()).where(BulkJobItem.job_id == job.id)) or 0
    )
    if job.total == 0:
        raise ValidationFailed("The target matches no connected account.", param="target")
    if data.canary is not None:
        if (data.canary.count is None) == (data.canary.percent is None):
            raise ValidationFailed(
                "Give exactly one of canary.count or canary.percent.", param="canary"
            )
        size = data.canary.count or math.ceil(job.total * (data.canary.percent or 0) / 100)
        job.canary_size = min(size, job.total)
        first = (
            select(BulkJobItem.seq)
            .where(BulkJobItem.job_id == job.id)
            .order_by(BulkJobItem.seq)
            .limit(job.canary_size)
        )
        await session.execute(
            update(BulkJobItem).where(BulkJobItem.seq.in_(first)).values(canary=True)
        )
    await audit.record(
        session,
        actor=actor,
        action="bulk_job.created",
        account_id=None,
        after={
            "job": job.id,
            "kind": job.kind,
            "total": job.total,
            "dry_run": job.dry_run,
            "patch": patch,
        },
    )
    after_commit.enqueue(session, "bulk_run", job.id)
    return job


async def _insert_listed(session: AsyncSession, job_id: str, account_ids: list[str]) -> None:
    seen: set[str] = set()
    for index, account_id in enumerate(account_ids):
        if account_id in seen:
            raise ValidationFailed(
                f"'{account_id}' is listed twice.", param=f"target.account_ids[{index}]"
            )
        seen.add(account_id)
    for start in range(0, len(account_ids), _INSERT_CHUNK):
        chunk = account_ids[start : start + _INSERT_CHUNK]
        known = set(
            await session.scalars(select(ConnectedAccount.id).where(ConnectedAccount.id.in_(chunk)))
        )
        for offset, account_id in enumerate(chunk):
            if account_id not in known:
                raise ValidationFailed(
                    f"No such account: '{account_id}'",
                    code="resource_missing",
                    param=f"target.account_ids[{start + offset}]",
                )
        await session.execute(
            insert(BulkJobItem),
            [
                {
                    "job_id": job_id,
                    "account_id": a,
                    "status": "pending",
                    "canary": False,
                    "attempts": 0,
                }
                for a in chunk
            ],
        )


async def get_job(session: AsyncSession, job_id: str, *, for_update: bool = False) -> BulkJob:
    """The job, or a 404 naming it."""
    return await get_or_404(session, BulkJob, job_id, what="bulk job", for_update=for_update)


async def recent_jobs(session: AsyncSession, *, limit: int) -> list[BulkJob]:
    """The newest jobs first."""
    return list(
        await session.scalars(select(BulkJob).order_by(BulkJob.created_at.desc()).limit(limit))
    )


async def item_counts(session: AsyncSession, job_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(BulkJobItem.status, func.count())
        .where(BulkJobItem.job_id == job_id)
        .group_by(BulkJobItem.status)
    )
    return {status: int(count) for status, count in rows}


async def job_out(session: AsyncSession, job: BulkJob) -> BulkJobOut:
    counts = await item_counts(session, job.id)
    pending = counts.get("pending", 0) + counts.get("running", 0)
    since = utcnow() - timedelta(seconds=RATE_WINDOW_S)
    recent = int(
        await session.scalar(
            select(func.count()).where(
                BulkJobItem.job_id == job.id, BulkJobItem.finished_at >= since
            )
        )
        or 0
    )
    rate = recent / RATE_WINDOW_S
    return BulkJobOut(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]
        status=job.status,
        dry_run=job.dry_run,
        total=job.total,
        succeeded=counts.get("succeeded", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0),
        pending=pending,
        rate_per_s=round(rate, 2),
        eta_s=round(pending / rate, 1) if rate > 0 and pending else None,
        canary=CanaryOut(size=job.canary_size, approved=job.canary_approved)
        if job.canary_size
        else None,
        patch=job.patch,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def item_out(item: BulkJobItem) -> BulkItemOut:
    return BulkItemOut(
        id=item.seq,
        account_id=item.account_id,
        status=item.status,
        attempts=item.attempts,
        canary=item.canary,
        error_code=item.error_code,
        error_message=item.error_message,
        error_param=item.error_param,
        diff=item.diff,
        finished_at=item.finished_at,
    )


async def list_items(
    session: AsyncSession,
    job_id: str,
    *,
    status: str | None,
    limit: int,
    starting_after: int | None,
) -> Page[BulkJobItem]:
    """Items in submission order; the cursor is the last item's `id` (its seq)."""
    stmt = select(BulkJobItem).where(BulkJobItem.job_id == job_id)
    if status:
        stmt = stmt.where(BulkJobItem.status == status)
    return await keyset_page(
        session,
        stmt,
        order=BulkJobItem.seq,
        limit=limit,
        starting_after=starting_after,
        descending=False,
        what="bulk job item",
    )


# A streamed response outlives the request's session (closed once the response
# starts), so the two readers below read in short sessions of their own, one per page
# or tick; they only read.


async def items_csv(
    session_maker: async_sessionmaker[AsyncSession], job_id: str, *, page_size: int = 1000
) -> AsyncIterator[str]:
    """Every item of the job as CSV text, a page at a time (flat memory whatever its size)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    cursor: int | None = None
    while True:
        async with session_maker() as session:
            page = await list_items(
                session, job_id, status=None, limit=page_size, starting_after=cursor
            )
        for item in page.rows:
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
        if not page.has_more or not page.rows:
            return
        cursor = page.rows[-1].seq


async def progress(
    session_maker: async_sessionmaker[AsyncSession], job_id: str, *, every_s: float = 1.0
) -> AsyncIterator[str]:
    """The job's progress as JSON, each time it changes (polled every `every_s`), until it ends."""
    last = None
    while True:
        async with session_maker() as session:
            out = await job_out(session, await get_job(session, job_id))
        payload = msgspec.json.encode(out).decode()
        if payload != last:
            yield payload
            last = payload
        if out.status in TERMINAL_JOB_STATUSES:
            return
        await asyncio.sleep(every_s)


async def cancel_job(session: AsyncSession, job_id: str, *, actor: str) -> BulkJob:
    """Stop a job: items not yet applied end `skipped` (code `cancelled`)."""
    job = await get_job(session, job_id, for_update=True)
    if job.status in TERMINAL_JOB_STATUSES:
        raise Conflict(f"The job is already {job.status}.", code="job_finished")
    job.status = "cancelled"
    job.finished_at = utcnow()
    await session.execute(
        update(BulkJobItem)
        .where(BulkJobItem.job_id == job_id, BulkJobItem.status == "pending")
        .values(
            status="skipped",
            error_code="cancelled",
            error_message="The job was cancelled.",
            finished_at=utcnow(),
        )
    )
    await audit.record(
        session, actor=actor, action="bulk_job.cancelled", account_id=None, after={"job": job_id}
    )
    return job


async def resume_job(
    session: AsyncSession, after_commit: AfterCommit, job_id: str, *, actor: str
) -> BulkJob:
    """Approve a paused canary: the rest of the accounts follow."""
    job = await get_job(session, job_id, for_update=True)
    if job.status != "paused":
        raise Conflict(
            f"Only a paused job can be resumed; this one is {job.status}.", code="job_not_paused"
        )
    job.canary_approved = True
    job.status = "running"
    await audit.record(
        session, actor=actor, action="bulk_job.resumed", account_id=None, after={"job": job_id}
    )
    after_commit.enqueue(session, "bulk_run", job.id)
    return job


async def retry_failed(
    session: AsyncSession, after_commit: AfterCommit, job_id: str, *, actor: str
) -> BulkJob:
    """Put the failed items back in the queue (same idempotency keys: nothing applies twice)."""
    job = await get_job(session, job_id, for_update=True)
    if job.status not in ("partially_failed", "failed"):
        raise Conflict(
            f"Only a finished job with failures can be retried; this one is {job.status}.",
            code="job_not_failed",
        )
    result = await session.execute(
        update(BulkJobItem)
        .where(BulkJobItem.job_id == job_id, BulkJobItem.status == "failed")
        .values(
            status="pending",
            attempts=0,
            error_code=None,
            error_message=None,
            error_param=None,
            finished_at=None,
        )
    )
    job.status = "running"
    job.finished_at = None
    await audit.record(
        session,
        actor=actor,
        action="bulk_job.retried",
        account_id=None,
        after={"job": job_id, "items": result.rowcount},  # type: ignore[attr-defined]
    )
    after_commit.enqueue(session, "bulk_run", job.id)
    return job
