"""Running a bulk job on arq: a coordinator starts lanes; lanes claim items and apply them.

Items are claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), applied
through the shared rate limiter with at most one write in flight per account,
and stamped done in the same transaction as the domain's change. A worker killed
mid-batch leaves leased items behind; once the lease passes they are claimed
again, and the item's idempotency key (job, account, patch version) makes Stripe
replay rather than re-apply anything that had already reached it. Stripe replays a
500 too; the gateway settles those by reading the object back (`StripeGateway._write`),
so an item whose key holds a 500 neither fails for good nor applies twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_service.accounts import service as accounts
from platform_service.bulk.appliers import BulkApplier, appliers, named_in_patch
from platform_service.bulk.models import TERMINAL_JOB_STATUSES, BulkJob, BulkJobItem
from platform_service.db.base import utcnow
from platform_service.errors import ServiceError
from platform_service.jobs.context import JobContext
from platform_service.jobs.ratelimit import AccountLocks, RateLimiter
from platform_service.settings import Settings
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import StripeGateway
from platform_service.stripe.idempotency import idempotency_key

logger = logging.getLogger(__name__)

SessionMaker = async_sessionmaker[AsyncSession]
# Items one lane applies at once; lanes x this bounds the Stripe calls in flight.
LANE_PARALLELISM = 4
_LOST_ACCESS = {StripeErrorKind.ACCOUNT_INVALID, StripeErrorKind.PERMISSION}
# 429s that slowing the pace would not have avoided: too many calls in flight (the
# backoff already lowers that), or a limit of one object.
_NOT_PACING = {"global-concurrency", "endpoint-concurrency", "resource-specific"}


@dataclass(frozen=True)
class JobView:
    """What applying an item needs of its job, read once per batch."""

    id: str
    applier: BulkApplier
    patch: dict[str, Any]
    patch_version: str
    dry_run: bool


def backoff_s(attempt: int, base: float = 0.5) -> float:
    """Exponential backoff with full jitter: `base` doubling per attempt, capped at 30 s."""
    return random.uniform(base / 2, min(30.0, base * 2 ** (attempt - 1)))


async def bulk_run(ctx: JobContext, job_id: str) -> str:
    """Coordinator: mark the job running and start its lanes."""
    async with ctx["session_maker"]() as session, session.begin():
        row = await session.scalar(select(BulkJob).where(BulkJob.id == job_id).with_for_update())
        if row is None or row.status in TERMINAL_JOB_STATUSES or row.status == "paused":
            return row.status if row else "missing"
        if row.status == "queued":
            row.status = "running"
            row.started_at = utcnow()
    queue = ctx["queue"]
    stamp = time.time_ns()
    for lane in range(max(1, ctx["settings"].bulk_concurrency)):
        await queue.enqueue("bulk_lane", job_id, lane, job_id=f"bulk:{job_id}:{lane}:{stamp}")
    return "running"


async def bulk_lane(ctx: JobContext, job_id: str, lane: int) -> int:
    """Claim batches of items and apply them until none is left; the last lane finishes the job.

    A pipeline, not batch after batch: `LANE_PARALLELISM` appliers take items from a
    short queue and the lane claims the next batch as soon as the queue has room, so
    no applier idles while the slowest item of a batch finishes (which cost about a
    tenth of the budget when each batch ended in one straggler).
    """
    worker = _Lane(
        session_maker=ctx["session_maker"],
        gateway=ctx["gateway"],
        account_locks=ctx["account_locks"],
        limiter=ctx.get("limiter"),
        settings=ctx["settings"],
        me=f"{socket.gethostname()}:{os.getpid()}:{lane}:{secrets.token_hex(3)}",
    )
    ready: asyncio.Queue[tuple[JobView, int, str] | None] = asyncio.Queue(LANE_PARALLELISM)
    applied = 0

    async def applier() -> None:
        nonlocal applied
        while (work := await ready.get()) is not None:
            view, seq, account_id = work
            await worker.apply_item(view, seq, account_id)
            applied += 1

    # A failing applier cancels the feed and the others: the lane's job then fails and
    # is retried, and the leases it held run out for another lane to take over.
    async with asyncio.TaskGroup() as group:
        for _ in range(LANE_PARALLELISM):
            group.create_task(applier())
        finished = await _feed(worker, job_id, ready)
        for _ in range(LANE_PARALLELISM):
            await ready.put(None)
    if finished:
        await finish_if_done(worker.session_maker, job_id)
    return applied


async def _feed(
    worker: _Lane, job_id: str, ready: asyncio.Queue[tuple[JobView, int, str] | None]
) -> bool:
    """Claim batches into `ready` while the job runs. True when nothing was left to claim."""
    kinds = appliers()
    while True:
        async with worker.session_maker() as session, session.begin():
            row = await session.get(BulkJob, job_id)
            if row is None or row.status != "running":
                return False
            applier = kinds.get(row.kind)
            if applier is None:
                # Only a kind whose code was removed while jobs of it were stored.
                row.status = "failed"
                row.error = f"No applier for kind '{row.kind}'."
                row.finished_at = utcnow()
                return False
            view = JobView(row.id, applier, dict(row.patch), row.patch_version, row.dry_run)
            canary_only = row.canary_size > 0 and not row.canary_approved
        claimed = await worker.claim(job_id, canary_only=canary_only)
        if not claimed:
            return True
        for seq, account_id in claimed:
            await ready.put((view, seq, account_id))


@dataclass(frozen=True)
class _Lane:
    """One lane of a job: who it is (`me`, the lease holder) and the parts it works with."""

    session_maker: SessionMaker
    gateway: StripeGateway
    account_locks: AccountLocks
    limiter: RateLimiter | None
    settings: Settings
    me: str

    async def claim(self, job_id: str, *, canary_only: bool) -> list[tuple[int, str]]:
        now = utcnow()
        lease = timedelta(seconds=self.settings.bulk_lease_s)
        claimable = select(BulkJobItem.seq).where(
            BulkJobItem.job_id == job_id,
            or_(
                BulkJobItem.status == "pending",
                and_(BulkJobItem.status == "running", BulkJobItem.lease_until < now),
            ),
        )
        if canary_only:
            claimable = claimable.where(BulkJobItem.canary.is_(True))
        claimable = claimable.order_by(BulkJobItem.seq).limit(self.settings.bulk_batch_size)
        if not self.settings.is_sqlite:
            claimable = claimable.with_for_update(skip_locked=True)
        async with self.session_maker() as session, session.begin():
            result = await session.execute(
                update(BulkJobItem)
                .where(BulkJobItem.seq.in_(claimable.scalar_subquery()))
                .values(status="running", lease_until=now + lease, worker=self.me)
                .returning(BulkJobItem.seq, BulkJobItem.account_id)
                .execution_options(synchronize_session=False)
            )
            return sorted((int(seq), str(acct)) for seq, acct in result)

    async def apply_item(self, view: JobView, seq: int, account_id: str) -> None:
        key = idempotency_key("bulk", view.id, account_id, view.patch_version)
        max_attempts = self.settings.bulk_max_attempts
        attempt = 0
        while True:
            attempt += 1
            lock_token = f"{self.me}:{seq}"
            await self.account_locks.acquire(account_id, lock_token)
            try:
                error = await self._attempt(view, seq, account_id, key, attempt)
            finally:
                await self.account_locks.release(account_id, lock_token)
            if error is None:
                return
            if error.kind in _LOST_ACCESS:
                await self._lost_access(seq, account_id, error, attempt)
                return
            if error.retryable and attempt < max_attempts:
                if (
                    error.kind is StripeErrorKind.RATE_LIMITED
                    and error.rate_limited_reason not in _NOT_PACING
                    and self.limiter is not None
                ):
                    # Our pacing let a 429 through (arrival jitter, or a budget set too
                    # high): every process gives up one slot; more would waste more than it saves.
                    await self.limiter.penalise()
                pause = backoff_s(attempt, self.settings.bulk_backoff_s)
                # Keep the item ours while we wait, or another lane would take it over.
                if not await self._renew_lease(seq, pause):
                    return
                await asyncio.sleep(pause)
                continue
            await self._mark(
                seq,
                status="failed",
                attempts=attempt,
                code=error.code or error.kind.value,
                message=error.message,
                param=error.param,
            )
            return

    async def _attempt(
        self, view: JobView, seq: int, account_id: str, key: str, attempt: int
    ) -> StripeGatewayError | None:
        """One try: apply and stamp the item in one transaction. Returns the Stripe error to act on."""
        try:
            async with self.session_maker() as session, session.begin():
                item = await session.scalar(
                    select(BulkJobItem).where(BulkJobItem.seq == seq).with_for_update()
                )
                if item is None or item.status != "running" or item.worker != self.me:
                    return None  # reclaimed by another lane after our lease ran out
                with named_in_patch():
                    result = await view.applier.apply(
                        session,
                        self.gateway,
                        account_id,
                        view.patch,
                        idempotency_key=key,
                        actor=f"bulk:{view.id}",
                        dry_run=view.dry_run,
                    )
                item.status = "succeeded" if result.changed else "skipped"
                if not result.changed:
                    item.error_code = "no_change"
                item.diff = dict(result.diff)
                item.attempts = attempt
                item.lease_until = None
                item.finished_at = utcnow()
            return None
        except StripeGatewayError as exc:
            return exc
        except ServiceError as exc:
            await self._mark(
                seq,
                status="failed",
                attempts=attempt,
                code=exc.code,
                message=exc.message,
                param=exc.param,
            )
            return None
        except Exception as exc:
            logger.exception("bulk item %s (%s) failed", seq, account_id)
            await self._mark(
                seq,
                status="failed",
                attempts=attempt,
                code="internal_error",
                message=f"{type(exc).__name__}: {exc}"[:500],
            )
            return None

    async def _lost_access(
        self, seq: int, account_id: str, error: StripeGatewayError, attempt: int
    ) -> None:
        """403 account_invalid: the account left the platform. Mark it so, skip the item."""
        try:
            async with self.session_maker() as session, session.begin():
                await accounts.sync_account(session, self.gateway, account_id, actor="system:bulk")
        except Exception:
            logger.exception("could not mark %s disconnected", account_id)
        await self._mark(
            seq,
            status="skipped",
            attempts=attempt,
            code=error.code or "account_invalid",
            message=error.message,
        )

    async def _renew_lease(self, seq: int, extra_s: float) -> bool:
        until = utcnow() + timedelta(seconds=self.settings.bulk_lease_s + extra_s)
        async with self.session_maker() as session, session.begin():
            result = await session.execute(
                update(BulkJobItem).where(self._mine(seq)).values(lease_until=until)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _mark(
        self,
        seq: int,
        *,
        status: str,
        attempts: int,
        code: str | None = None,
        message: str | None = None,
        param: str | None = None,
    ) -> None:
        async with self.session_maker() as session, session.begin():
            await session.execute(
                update(BulkJobItem)
                .where(self._mine(seq))
                .values(
                    status=status,
                    attempts=attempts,
                    error_code=code,
                    error_message=message,
                    error_param=param,
                    lease_until=None,
                    finished_at=utcnow(),
                )
            )

    def _mine(self, seq: int) -> ColumnElement[bool]:
        """The item, while this lane still holds its lease."""
        return and_(
            BulkJobItem.seq == seq, BulkJobItem.worker == self.me, BulkJobItem.status == "running"
        )


async def finish_if_done(session_maker: SessionMaker, job_id: str) -> str | None:
    """Close the job (or pause it after its canary) once no item is pending or in flight."""
    async with session_maker() as session, session.begin():
        row = await session.scalar(select(BulkJob).where(BulkJob.id == job_id).with_for_update())
        if row is None or row.status != "running":
            return None
        counts = await _counts(session, job_id)
        if counts.get("pending", 0) or counts.get("running", 0):
            if row.canary_size and not row.canary_approved:
                canary_open = await session.scalar(
                    select(func.count()).where(
                        BulkJobItem.job_id == job_id,
                        BulkJobItem.canary.is_(True),
                        BulkJobItem.status.in_(("pending", "running")),
                    )
                )
                if not canary_open:
                    row.status = "paused"
                    return row.status
            return None
        failed = counts.get("failed", 0)
        done = counts.get("succeeded", 0) + counts.get("skipped", 0)
        row.status = "succeeded" if not failed else ("partially_failed" if done else "failed")
        row.finished_at = utcnow()
        return row.status


async def _counts(session: AsyncSession, job_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(BulkJobItem.status, func.count())
        .where(BulkJobItem.job_id == job_id)
        .group_by(BulkJobItem.status)
    )
    return {s: int(c) for s, c in rows}


async def bulk_reaper(ctx: JobContext) -> int:
    """Restart running jobs nobody is working on (their worker died): leases ran out, or
    work is pending and nothing finished lately."""
    queue = ctx["queue"]
    now = utcnow()
    quiet = now - timedelta(seconds=max(5.0, ctx["settings"].bulk_lease_s / 2))
    restarted = 0
    async with ctx["session_maker"]() as session:
        running = list(await session.scalars(select(BulkJob.id).where(BulkJob.status == "running")))
        for job_id in running:
            leased = await session.scalar(
                select(func.count()).where(
                    BulkJobItem.job_id == job_id,
                    BulkJobItem.status == "running",
                    BulkJobItem.lease_until >= now,
                )
            )
            recent = await session.scalar(
                select(func.count()).where(
                    BulkJobItem.job_id == job_id, BulkJobItem.finished_at >= quiet
                )
            )
            if leased or recent:
                continue
            await queue.enqueue("bulk_run", job_id)
            restarted += 1
    return restarted
