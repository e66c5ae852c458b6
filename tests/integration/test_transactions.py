"""The transaction rule (`db/transaction.py`) on real PostgreSQL: what commits, what rolls back.

A tiny app with the service's own request-session config: its handlers write an
audit row and ask for a job after commit, then answer 200, answer 303, or raise.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Controller, Litestar, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_service.auth import audit
from platform_service.auth.models import AuditEvent
from platform_service.db.engine import create_engine, create_session_maker
from platform_service.db.transaction import kept_on, request_transactions
from platform_service.deps import AfterCommitDep, DbSession
from platform_service.errors import Conflict, exception_handlers
from platform_service.jobs.context import JobContext
from platform_service.jobs.models import OutboxJob
from platform_service.jobs.outbox import AfterCommit, spawner
from platform_service.jobs.queue import InProcessQueue
from platform_service.jobs.registry import JobSpec
from tests.fixtures.app import serve_app


class Kept(Exception):
    """Stands for the failure a service keeps a record of (a failed Stripe sync)."""


class Abort(Exception):
    pass


async def write(session: AsyncSession, after_commit: AfterCommit, marker: str) -> None:
    """What every handler here does before answering: a row, and a job after commit."""
    await audit.record(session, actor=f"test:{marker}", action="test.transaction", account_id=None)
    after_commit.enqueue(session, "remember", marker)


class TransactionController(Controller):
    path = "/tx"

    @post("/ok/{marker:str}", status_code=200)
    async def ok(
        self, db_session: DbSession, after_commit: AfterCommitDep, marker: FromPath[str]
    ) -> dict[str, str]:
        await write(db_session, after_commit, marker)
        return {"marker": marker}

    @post("/redirect/{marker:str}", status_code=303)
    async def redirect(
        self, db_session: DbSession, after_commit: AfterCommitDep, marker: FromPath[str]
    ) -> Redirect:
        await write(db_session, after_commit, marker)
        return Redirect("/elsewhere", status_code=303)

    @post("/fail/{marker:str}", status_code=200)
    async def fail(
        self, db_session: DbSession, after_commit: AfterCommitDep, marker: FromPath[str]
    ) -> dict[str, str]:
        await write(db_session, after_commit, marker)
        await db_session.flush()  # the row reached the database before the error
        raise Conflict("Refused after writing.", code="refused")

    @post("/commit-fails/{marker:str}", status_code=200)
    async def commit_fails(
        self, db_session: DbSession, after_commit: AfterCommitDep, marker: FromPath[str]
    ) -> dict[str, str]:
        await write(db_session, after_commit, marker)
        # Left for the commit's flush, which the database refuses (NOT NULL).
        db_session.add(OutboxJob(function=None, args=[]))
        return {"marker": marker}


@dataclass
class Harness:
    url: str
    session_maker: async_sessionmaker[AsyncSession]
    after_commit: AfterCommit
    queue: InProcessQueue
    spawned: set[asyncio.Task[Any]]
    ran: list[str] = field(default_factory=list)

    async def settle(self) -> None:
        """Wait for the after-commit enqueues, then for the jobs they queued."""
        while self.spawned:
            await asyncio.gather(*list(self.spawned), return_exceptions=True)
        await self.queue.drain(timeout=10)

    async def rows(self, marker: str) -> int:
        async with self.session_maker() as session:
            return int(
                await session.scalar(
                    select(func.count()).where(AuditEvent.actor == f"test:{marker}")
                )
                or 0
            )

    async def outbox(self, marker: str) -> int:
        async with self.session_maker() as session:
            stored = await session.scalars(
                select(OutboxJob.args).where(OutboxJob.function == "remember")
            )
            return sum(1 for args in stored if args == [marker])


@pytest.fixture(scope="module")
async def harness(migrated: str) -> AsyncIterator[Harness]:
    engine = create_engine(migrated)
    session_maker = create_session_maker(engine)
    ran: list[str] = []

    async def remember(_ctx: JobContext, marker: str) -> None:
        ran.append(marker)

    queue = InProcessQueue(
        JobContext(), {"remember": JobSpec("remember", remember)}, default_max_tries=1
    )
    spawned: set[asyncio.Task[Any]] = set()
    after_commit = AfterCommit(session_maker, lambda: queue, spawner(spawned))
    app = Litestar(
        route_handlers=[TransactionController],
        plugins=[SQLAlchemyPlugin(config=request_transactions(engine))],
        dependencies={"after_commit": Provide(lambda: after_commit, sync_to_thread=False)},
        exception_handlers=exception_handlers(),
    )
    server, task, url = await serve_app(app)
    yield Harness(url, session_maker, after_commit, queue, spawned, ran)
    server.should_exit = True
    await task
    await queue.aclose()
    await engine.dispose()


def new_marker() -> str:
    return secrets.token_hex(6)


@pytest.mark.parametrize(
    ("route", "status"),
    [("ok", 200), ("redirect", 303)],
    ids=["200", "303"],
)
async def test_a_handler_that_answers_2xx_or_3xx_commits_and_its_job_runs_once(
    harness: Harness, route: str, status: int
) -> None:
    marker = new_marker()
    async with httpx.AsyncClient(base_url=harness.url) as client:
        resp = await client.post(f"/tx/{route}/{marker}")
    assert resp.status_code == status, resp.text
    await harness.settle()
    assert await harness.rows(marker) == 1
    assert harness.ran.count(marker) == 1
    assert await harness.outbox(marker) == 0  # queued, so its outbox row is gone


async def test_a_handler_that_raises_rolls_back_and_its_job_never_runs(harness: Harness) -> None:
    marker = new_marker()
    async with httpx.AsyncClient(base_url=harness.url) as client:
        resp = await client.post(f"/tx/fail/{marker}")
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "refused"
    await harness.settle()
    assert await harness.rows(marker) == 0
    assert marker not in harness.ran
    assert await harness.outbox(marker) == 0


async def write_in_kept_on_then_raise(harness: Harness, marker: str, error: Exception) -> None:
    async with kept_on(harness.session_maker, Kept) as session:
        await write(session, harness.after_commit, marker)
        await session.flush()
        raise error


async def test_kept_on_keeps_the_failure_record_and_still_raises(harness: Harness) -> None:
    marker = new_marker()
    with pytest.raises(Kept):
        await write_in_kept_on_then_raise(harness, marker, Kept())
    await harness.settle()
    assert await harness.rows(marker) == 1
    assert harness.ran.count(marker) == 1


async def test_kept_on_rolls_back_on_any_other_exception(harness: Harness) -> None:
    marker = new_marker()
    with pytest.raises(Abort):
        await write_in_kept_on_then_raise(harness, marker, Abort())
    await harness.settle()
    assert await harness.rows(marker) == 0
    assert marker not in harness.ran


async def test_kept_on_commits_a_block_that_succeeds(harness: Harness) -> None:
    marker = new_marker()
    async with kept_on(harness.session_maker, Kept) as session:
        await write(session, harness.after_commit, marker)
    await harness.settle()
    assert await harness.rows(marker) == 1
    assert harness.ran.count(marker) == 1


async def enqueue_then_roll_back(
    session: AsyncSession, after_commit: AfterCommit, marker: str
) -> None:
    async with session.begin():
        after_commit.enqueue(session, "remember", marker)
        raise Abort


async def test_a_job_asked_for_in_a_rolled_back_transaction_is_never_enqueued(
    harness: Harness,
) -> None:
    doomed, later = new_marker(), new_marker()
    async with harness.session_maker() as session:
        with pytest.raises(Abort):
            await enqueue_then_roll_back(session, harness.after_commit, doomed)
        # The same session's next transaction commits: the rolled-back job stays forgotten.
        async with session.begin():
            harness.after_commit.enqueue(session, "remember", later)
    await harness.settle()
    assert doomed not in harness.ran
    assert await harness.outbox(doomed) == 0
    assert harness.ran.count(later) == 1


async def test_a_job_asked_for_in_a_committed_transaction_is_enqueued_exactly_once(
    harness: Harness,
) -> None:
    marker = new_marker()
    async with harness.session_maker() as session:
        async with session.begin():
            harness.after_commit.enqueue(session, "remember", marker)
        # Later commits of the same session don't enqueue it again.
        async with session.begin():
            await audit.record(session, actor="test:other", action="test.other", account_id=None)
    await harness.settle()
    assert harness.ran.count(marker) == 1
    assert await harness.outbox(marker) == 0


async def test_a_commit_the_database_refuses_answers_503_and_keeps_nothing(
    harness: Harness,
) -> None:
    marker = new_marker()
    async with httpx.AsyncClient(base_url=harness.url) as client:
        resp = await client.post(f"/tx/commit-fails/{marker}")
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "commit_failed"
    assert resp.headers["retry-after"] == "1"
    await harness.settle()
    assert await harness.rows(marker) == 0
    assert marker not in harness.ran
