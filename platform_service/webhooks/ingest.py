"""Group commit for webhook deliveries: concurrent deliveries share one transaction.

Stripe sends bursts (a bulk change to thousands of accounts answers with
thousands of `account.updated`), and a delivery's own work is one small insert;
what it costs is the transaction around it (begin, commit, a pooled connection,
the after-commit enqueue), so each process stores deliveries through one
writer: a delivery joins the batch being gathered, the writer inserts the whole
batch with one `INSERT … ON CONFLICT DO NOTHING` and commits once, and only
then answers every delivery in it. A 200 still means "stored": nobody is
answered before the commit that holds their event. Like a job, the writer owns
its transaction (the transaction rule's exception for work that is not one
request's).

If a batch fails as a whole (a value the database refuses), each of its
deliveries is retried alone, so one poisoned event fails only its own delivery
(which Stripe retries) and never its neighbours.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import Table, TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.db.locks import become_writer
from platform_service.db.transaction import SessionMaker
from platform_service.jobs.outbox import AfterCommit, commit_then_dispatch
from platform_service.webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

# Past this many, a batch's statement grows without making the commit cheaper.
MAX_BATCH: Final = 64
# The columns every stored delivery sets (`service.event_values` builds them).
COLUMNS: Final = (
    "stripe_event_id",
    "type",
    "account_id",
    "livemode",
    "source",
    "created",
    "object_id",
    "object_type",
    "payload",
    "status",
    "stale",
    "attempts",
    "received_at",
    "enqueued_at",
)

_Waiter = tuple[dict[str, Any], "asyncio.Future[int | None]"]


@functools.cache
def insert_rows(count: int) -> TextClause:
    """`INSERT … VALUES (…), … ON CONFLICT (stripe_event_id) DO NOTHING RETURNING …` for
    `count` rows, bound with the columns' types (JSON, UTC datetimes) like the ORM would.

    Text, cached per row count: SQLAlchemy does not cache the compiled form of the
    dialects' `on_conflict_do_nothing()` constructs. PostgreSQL and SQLite share
    the syntax. Identifiers come from the table's metadata, never from a request.
    """
    table = WebhookEvent.__table__
    assert isinstance(table, Table)
    rows = ", ".join(
        "(" + ", ".join(f":{name}_{i}" for name in COLUMNS) + ")" for i in range(count)
    )
    sql = (
        f"INSERT INTO {table.name} ({', '.join(COLUMNS)}) VALUES {rows} "  # noqa: S608
        "ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id, stripe_event_id"
    )
    params = [
        bindparam(f"{name}_{i}", type_=table.c[name].type) for i in range(count) for name in COLUMNS
    ]
    return text(sql).bindparams(*params)


class IngestWriter:
    """Stores deliveries for one process, a batch per transaction (see the module docstring)."""

    def __init__(self, session_maker: SessionMaker, after_commit: AfterCommit, job: str) -> None:
        self._session_maker = session_maker
        self._after_commit = after_commit
        self._job = job
        self._waiting: list[_Waiter] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, values: dict[str, Any]) -> int | None:
        """Store one delivery; its new row id, or None when the event id was stored already.

        Returns once the row is committed and its job queued (if it needs one).
        """
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((values, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                await self._commit(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle_error(batch, exc)
                    continue
                # The class only: the database's message quotes the rows, payloads included.
                logger.warning(
                    "webhook batch of %d failed (%s); storing one by one",
                    len(batch),
                    type(exc).__name__,
                )
                for waiter in batch:
                    try:
                        await self._commit([waiter])
                    except Exception as single:
                        _settle_error([waiter], single)

    async def _commit(self, batch: Sequence[_Waiter]) -> None:
        # One delivery per event id in a statement: a redelivery racing its original
        # is answered as the duplicate it is.
        first: dict[str, _Waiter] = {}
        for waiter in batch:
            first.setdefault(waiter[0]["stripe_event_id"], waiter)
        rows = list(first.values())
        async with self._session_maker() as session:
            await become_writer(session)
            inserted = await _insert(session, [values for values, _ in rows])
            for values, _ in rows:
                row_id = inserted.get(values["stripe_event_id"])
                if row_id is not None and values["enqueued_at"] is not None:
                    self._after_commit.enqueue(session, self._job, row_id, durable=False)
            await commit_then_dispatch(session)
        for values, future in batch:
            if future.done():
                continue
            original = first[values["stripe_event_id"]]
            row_id = inserted.get(values["stripe_event_id"]) if original[1] is future else None
            future.set_result(row_id)


def row_params(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The bound values of `insert_rows(len(rows))`."""
    return {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in COLUMNS}


async def _insert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    result = await session.execute(insert_rows(len(rows)), row_params(rows))
    return {str(event_id): int(row_id) for row_id, event_id in result}


def _settle_error(batch: Sequence[_Waiter], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


# One writer per session maker (per process and database); weak, so an engine that
# is disposed (tests build many) takes its writer with it.
_WRITERS: WeakKeyDictionary[Any, IngestWriter] = WeakKeyDictionary()


def writer_for(session_maker: SessionMaker, after_commit: AfterCommit, job: str) -> IngestWriter:
    """The process's writer for `session_maker`'s database."""
    writer = _WRITERS.get(session_maker)
    if writer is None:
        writer = _WRITERS[session_maker] = IngestWriter(session_maker, after_commit, job)
    return writer
