"""Enqueue after commit: the one way a job asked for inside a transaction gets queued.

`AfterCommit.enqueue(session, "fn", *args)` queues `fn(*args)` once (and only if)
the session's transaction commits. By default it also writes an outbox row in
that transaction, deleted once the job is queued; if the process dies in
between, the `outbox_sweep` cron queues what was left (jobs are idempotent, so
a rare second run is harmless; a lost one is not).

A caller whose own row already records "this still needs a job" (a webhook
event `pending` with its `enqueued_at` stamp, swept by the inbox's own sweep)
passes `durable=False`: no outbox row, the same after-commit enqueue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from platform_service.db.base import utcnow
from platform_service.jobs.context import JobContext
from platform_service.jobs.models import OutboxJob
from platform_service.jobs.queue import JobQueue

logger = logging.getLogger(__name__)
_PENDING = "after_commit_pending"
# Set on a session whose committer awaits the dispatch itself (`commit_then_dispatch`).
_AWAITED = "after_commit_awaited"
_COMMITTED = "after_commit_committed"

Spawn = Callable[[Coroutine[Any, Any, Any]], None]
_ENQUEUE_CONCURRENCY = 8
# (outbox row seq or None, function, args)
_Job = tuple[int | None, str, list[Any]]


class AfterCommit:
    """Queues jobs once the transaction that asked for them has committed."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        queue: Callable[[], JobQueue | None],
        spawn: Spawn,
    ) -> None:
        self._session_maker = session_maker
        self._queue = queue
        self._spawn = spawn

    def enqueue(
        self, session: AsyncSession, function: str, *args: Any, durable: bool = True
    ) -> None:
        """Queue `function(*args)` once (and only if) `session`'s transaction commits."""
        row = OutboxJob(function=function, args=list(args)) if durable else None
        if row is not None:
            session.add(row)
        info = session.sync_session.info
        pending: _Pending | None = info.get(_PENDING)
        if pending is None:
            pending = info[_PENDING] = _Pending(self)
        pending.jobs.append((row, function, list(args)))

    async def dispatch(self, jobs: Sequence[_Job]) -> int:
        """Enqueue committed jobs, then delete their outbox rows; returns how many were queued."""
        queue = self._queue()
        if queue is None:
            return 0
        done: list[int] = []
        queued = 0
        # A few enqueues in flight at once: a batch of webhook events (or a sweep) is
        # queued in a few round trips' time instead of one after the other.
        slots = asyncio.Semaphore(_ENQUEUE_CONCURRENCY)

        async def one(seq: int | None, function: str, args: list[Any]) -> None:
            nonlocal queued
            async with slots:
                try:
                    await queue.enqueue(function, *args)
                except Exception:
                    logger.exception("enqueue of %s failed; a sweep will retry it", function)
                    return
            queued += 1
            if seq is not None:
                done.append(seq)

        await asyncio.gather(*(one(seq, function, args) for seq, function, args in jobs))
        if done:
            async with self._session_maker() as session, session.begin():
                await session.execute(delete(OutboxJob).where(OutboxJob.seq.in_(done)))
        return queued


class _Pending:
    """The jobs a session's open transaction asked for, and who queues them."""

    __slots__ = ("jobs", "owner")

    def __init__(self, owner: AfterCommit) -> None:
        self.owner = owner
        self.jobs: list[tuple[OutboxJob | None, str, list[Any]]] = []


# Listeners on the Session class, registered once: attaching a pair to every session
# that asks for a job cost about 50 µs per webhook delivery.
@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None or not pending.jobs:
        return
    jobs: list[_Job] = [
        (row.seq if row is not None else None, function, args)
        for row, function, args in pending.jobs
    ]
    if session.info.pop(_AWAITED, False):
        session.info[_COMMITTED] = (pending.owner, jobs)
    else:
        pending.owner._spawn(pending.owner.dispatch(jobs))


async def commit_then_dispatch(session: AsyncSession) -> None:
    """Commit, then queue the jobs the transaction asked for before returning.

    The request transaction commits this way: the response waits for its jobs to
    reach the queue (or their outbox rows, on failure), so a client told 2xx knows
    the work is queued, and a burst of requests cannot outrun the enqueues.
    """
    info = session.sync_session.info
    info[_AWAITED] = True
    try:
        await session.commit()
    finally:
        info.pop(_AWAITED, None)
    committed: tuple[AfterCommit, list[_Job]] | None = info.pop(_COMMITTED, None)
    if committed is not None:
        owner, jobs = committed
        try:
            await owner.dispatch(jobs)
        except Exception:
            # Committed all the same: the outbox sweep queues what is left.
            logger.exception("after-commit dispatch failed; the outbox sweep will retry")


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Runs after `after_commit` on a commit (nothing left by then); on a rollback or a
    # close it drops the jobs. Only the outermost transaction counts: a savepoint that
    # rolls back (a refused unique insert) leaves the transaction and its jobs alive.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


async def outbox_sweep(ctx: JobContext, older_than_s: float = 30.0) -> int:
    """Enqueue outbox rows whose after-commit enqueue never happened (a crash, Redis down)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    async with ctx["session_maker"]() as session:
        rows = list(
            await session.execute(
                select(OutboxJob.seq, OutboxJob.function, OutboxJob.args)
                .where(OutboxJob.created_at < cutoff)
                .order_by(OutboxJob.seq)
                .limit(1000)
            )
        )
    await ctx["after_commit"].dispatch([(seq, fn, list(args)) for seq, fn, args in rows])
    return len(rows)


def spawner(tasks: set[asyncio.Task[Any]]) -> Spawn:
    """A `Spawn` keeping a reference to each task in `tasks` until it finishes."""

    def spawn(coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return spawn
