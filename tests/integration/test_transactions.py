"""The transaction rule (`db/transaction.py`) on real PostgreSQL: what commits, what rolls back;
and on SQLite, the embedded default, that a transaction stays whole and writers queue.

A tiny app with the service's own request-session config: its handlers write an
audit row and ask for a job after commit, then answer 200, answer 303, or raise.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
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
from platform_service.db.lookup import get_or_404
from platform_service.db.migrate import upgrade
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

    @post("/duplicate/{marker:str}", status_code=200)
    async def duplicate(
        self, db_session: DbSession, after_commit: AfterCommitDep, marker: FromPath[str]
    ) -> dict[str, str]:
        await write(db_session, after_commit, marker)
        first = await audit.record(
            db_session, actor=f"test:{marker}", action="test.first", account_id=None
        )
        await db_session.flush()
        # The unique row a concurrent request wrote first.
        db_session.add(
            AuditEvent(id=first.id, actor=f"test:{marker}", action="test.race", account_id=None)
        )
        await db_session.flush()
        return {"marker": marker}

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


async def test_a_unique_row_written_concurrently_answers_409_with_retry_after_and_keeps_nothing(
    harness: Harness,
) -> None:
    marker = new_marker()
    async with httpx.AsyncClient(base_url=harness.url) as client:
        resp = await client.post(f"/tx/duplicate/{marker}")
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["type"] == "conflict_error"
    assert resp.json()["error"]["code"] == "conflict"
    assert resp.headers["retry-after"] == "1"
    await harness.settle()
    assert await harness.rows(marker) == 0
    assert marker not in harness.ran


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


# ------------------------------------------------------------------ SQLite (the embedded default)


@pytest.fixture
async def sqlite_sessions(
    tmp_path: Path,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    yield create_session_maker(engine)
    await engine.dispose()


async def count_rows(session_maker: async_sessionmaker[AsyncSession], actor: str) -> int:
    async with session_maker() as session:
        return int(await session.scalar(select(func.count()).where(AuditEvent.actor == actor)) or 0)


async def test_on_sqlite_a_savepoint_before_the_first_write_does_not_commit_halfway(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sqlite_sessions() as session:
        async with session.begin_nested():
            await audit.record(session, actor="test:savepoint", action="test", account_id=None)
        await session.rollback()
    assert await count_rows(sqlite_sessions, "test:savepoint") == 0


async def test_on_sqlite_writers_that_read_first_run_one_after_the_other(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Each writer counts the rows, then adds the next: none may read a stale count or fail."""
    async with sqlite_sessions() as session, session.begin():
        await audit.record(session, actor="test:seed", action="test", account_id=None)
        await session.flush()
        seed = await session.scalar(select(AuditEvent.id).where(AuditEvent.actor == "test:seed"))
    assert seed is not None

    async def next_number() -> None:
        async with sqlite_sessions() as session, session.begin():
            await get_or_404(
                session, AuditEvent, seed, what="event", by=AuditEvent.id, for_update=True
            )
            n = await session.scalar(
                select(func.count()).where(AuditEvent.action == "test.counted")
            )
            await asyncio.sleep(0.01)  # what a Stripe call would take
            await audit.record(session, actor=f"test:n{n}", action="test.counted", account_id=None)

    await asyncio.gather(*(next_number() for _ in range(8)))
    async with sqlite_sessions() as session:
        actors = set(
            await session.scalars(
                select(AuditEvent.actor).where(AuditEvent.action == "test.counted")
            )
        )
    assert actors == {f"test:n{n}" for n in range(8)}


async def test_on_sqlite_a_transaction_that_wrote_before_locking_is_not_stuck_behind_a_waiting_writer(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The first wrote (holding SQLite's lock); the second took the writer lock and waits for
    SQLite's: the first locking now must go on at once, not wait for the second."""
    async with sqlite_sessions() as session, session.begin():
        seed = await audit.record(session, actor="test:seed", action="test", account_id=None)
    wrote, waiting = sqlite_sessions(), sqlite_sessions()
    async with wrote, waiting:
        async with wrote.begin():
            await audit.record(wrote, actor="test:first", action="test", account_id=None)
            await wrote.flush()
            second = asyncio.create_task(lock_event(waiting, seed.id))
            await asyncio.sleep(0.2)  # the second holds the writer lock, waiting for SQLite's
            async with asyncio.timeout(5):
                await lock_event(wrote, seed.id)
        async with asyncio.timeout(5):
            await second
        await waiting.commit()
    assert await count_rows(sqlite_sessions, "test:first") == 1


async def lock_event(session: AsyncSession, event_id: str) -> AuditEvent:
    return await get_or_404(
        session, AuditEvent, event_id, what="event", by=AuditEvent.id, for_update=True
    )
