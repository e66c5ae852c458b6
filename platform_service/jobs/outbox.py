"""Enqueue after commit: a job asked for inside a transaction runs only if it commits.

The request writes an outbox row in its own transaction; once that commits the
job is enqueued and the row deleted. If the process dies in between, the
`outbox_sweep` cron enqueues what was left (jobs are idempotent, so a rare
second run is harmless; a lost one is not).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_service.db.base import utcnow
from platform_service.jobs.models import OutboxJob
from platform_service.jobs.registry import cron, job

if TYPE_CHECKING:
    from platform_service.runtime import Runtime

logger = logging.getLogger(__name__)
_PENDING = "outbox_pending"


def enqueue_after_commit(
    session: AsyncSession, runtime: Runtime, function: str, *args: Any
) -> None:
    """Queue `function(*args)` once (and only if) the session's transaction commits."""
    row = OutboxJob(function=function, args=list(args))
    session.add(row)
    sync = session.sync_session
    pending: list[OutboxJob] | None = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = []
        event.listen(sync, "after_commit", _make_after_commit(runtime), once=True)
        event.listen(sync, "after_soft_rollback", _clear, once=True)
    pending.append(row)


def _clear(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


def _make_after_commit(runtime: Runtime) -> Any:
    def after_commit(session: Session) -> None:
        rows: list[OutboxJob] = session.info.pop(_PENDING, [])
        jobs = [(r.seq, r.function, list(r.args)) for r in rows]
        if jobs:
            runtime.spawn(dispatch(runtime, jobs))

    return after_commit


async def dispatch(runtime: Runtime, jobs: list[tuple[int, str, list[Any]]]) -> None:
    """Enqueue committed outbox rows, then delete them."""
    if runtime.queue is None:
        return
    done: list[int] = []
    for seq, function, args in jobs:
        try:
            await runtime.queue.enqueue(function, *args)
            done.append(seq)
        except Exception:
            logger.exception("enqueue of %s failed; the outbox sweep will retry", function)
    if done:
        async with runtime.session() as session, session.begin():
            await session.execute(delete(OutboxJob).where(OutboxJob.seq.in_(done)))


@job(max_tries=3, timeout_s=120)
@cron(interval_s=30)
async def outbox_sweep(ctx: dict[str, Any], older_than_s: float = 30.0) -> int:
    """Enqueue outbox rows whose after-commit enqueue never happened (a crash, Redis down)."""
    runtime: Runtime = ctx["runtime"]
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    async with runtime.session() as session:
        rows = list(
            await session.execute(
                select(OutboxJob.seq, OutboxJob.function, OutboxJob.args)
                .where(OutboxJob.created_at < cutoff)
                .order_by(OutboxJob.seq)
                .limit(1000)
            )
        )
    await dispatch(runtime, [(seq, fn, list(args)) for seq, fn, args in rows])
    return len(rows)
