"""Bulk jobs: submit (persisting the job and every item first), read progress, control."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.models import ConnectedAccount
from platform_service.auth import audit
from platform_service.bulk.appliers import applier
from platform_service.bulk.models import TERMINAL_JOB_STATUSES, BulkJob, BulkJobItem
from platform_service.bulk.schemas import BulkItemOut, BulkJobCreate, BulkJobOut, CanaryOut
from platform_service.db.base import utcnow
from platform_service.errors import Conflict, NotFound, ValidationFailed
from platform_service.jobs.outbox import enqueue_after_commit
from platform_service.runtime import Runtime

_INSERT_CHUNK = 1000
RATE_WINDOW_S = 10


def patch_version(kind: str, patch: dict[str, Any]) -> str:
    return hashlib.sha256(msgspec.json.encode([kind, patch], order="sorted")).hexdigest()[:16]


async def create_job(
    session: AsyncSession, runtime: Runtime, data: BulkJobCreate, *, actor: str
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
    patch = dict(data.patch)
    if data.files:
        if data.kind != "branding":
            raise ValidationFailed("files are only for branding jobs.", param="files")
        from platform_service.branding.service import upload_branding_file

        for purpose, encoded in data.files.items():
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationFailed("Not valid base64.", param=f"files.{purpose}") from exc
            # Uploaded once here, on the platform; every item reuses the file id.
            patch[purpose] = await upload_branding_file(
                session, runtime, purpose=purpose, data=raw, filename=f"bulk-{purpose}"
            )
    if not patch:
        raise ValidationFailed("The patch is empty.", param="patch")
    applier(data.kind).validate(patch)

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
    enqueue_after_commit(session, runtime, "bulk_run", job.id)
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
    stmt = select(BulkJob).where(BulkJob.id == job_id)
    if for_update:
        stmt = stmt.with_for_update()
    job = await session.scalar(stmt)
    if job is None:
        raise NotFound(f"No such bulk job: '{job_id}'", param="id")
    return job


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
) -> tuple[list[BulkJobItem], bool]:
    stmt = (
        select(BulkJobItem)
        .where(BulkJobItem.job_id == job_id)
        .order_by(BulkJobItem.seq)
        .limit(limit + 1)
    )
    if status:
        stmt = stmt.where(BulkJobItem.status == status)
    if starting_after is not None:
        stmt = stmt.where(BulkJobItem.seq > starting_after)
    rows = list(await session.scalars(stmt))
    return rows[:limit], len(rows) > limit


async def cancel_job(
    session: AsyncSession, runtime: Runtime, job_id: str, *, actor: str
) -> BulkJob:
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
    session: AsyncSession, runtime: Runtime, job_id: str, *, actor: str
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
    enqueue_after_commit(session, runtime, "bulk_run", job.id)
    return job


async def retry_failed(
    session: AsyncSession, runtime: Runtime, job_id: str, *, actor: str
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
    enqueue_after_commit(session, runtime, "bulk_run", job.id)
    return job
