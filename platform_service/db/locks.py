"""The write lock: a write takes it before reading what it will change, and keeps it to the end.

PostgreSQL locks the row (`SELECT … FOR UPDATE`, `lookup.get_or_404(for_update=True)`).
SQLite has no row locks and one writer at a time, and a transaction that read
and then writes after another one committed is refused at once ("database is
locked", no busy wait). So there a write first becomes the writer: it takes
the process's writer lock (the embedded default is one process) and begins
`BEGIN IMMEDIATE`, both held until its transaction ends; it then reads what
the previous writer committed and none of its statements can lose a race. (A
transaction that wrote already holds SQLite's lock: it is the writer as it is.)
Reads never wait: they don't take the lock, and WAL lets them run beside the writer.
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from platform_service.db.engine import SQLITE_BUSY_TIMEOUT_S
from platform_service.errors import DatabaseBusy

_WRITERS: WeakKeyDictionary[Engine, asyncio.Lock] = WeakKeyDictionary()
_HELD = "platform_service.sqlite_writer"


async def become_writer(session: AsyncSession) -> None:
    """Make `session`'s transaction the only writer of a SQLite database (a no-op elsewhere).

    Raises `DatabaseBusy` (503, Retry-After) if the lock stays taken past SQLite's busy timeout.
    """
    sync = session.sync_session
    engine = sync.get_bind().engine
    if engine.dialect.name != "sqlite" or _HELD in sync.info:
        return
    if sync.in_transaction() and await _in_sqlite_transaction(session):
        # It wrote already (pysqlite begins at the first write), so SQLite's write lock
        # is its own; waiting for the next writer, which waits for it, would deadlock.
        return
    lock = _WRITERS.setdefault(engine, asyncio.Lock())
    try:
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_S):
            await lock.acquire()
    except TimeoutError:
        raise DatabaseBusy(
            "Another change is being saved and took too long; nothing was changed. "
            "Retry the request.",
            headers={"Retry-After": "1"},
        ) from None
    try:
        connection = await session.connection()
    except BaseException:
        lock.release()
        raise
    sync.info[_HELD] = lock  # released when the transaction ends (`_release`)
    # Reads before this ran outside a transaction, so this one sees what the
    # previous writer committed.
    await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def _in_sqlite_transaction(session: AsyncSession) -> bool:
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    return driver is not None and bool(driver.in_transaction)


@event.listens_for(Session, "after_transaction_end")
def _release(session: Session, transaction: SessionTransaction) -> None:
    # Committed or rolled back (or the session closed): the next writer may begin.
    if transaction.parent is None:
        lock: asyncio.Lock | None = session.info.pop(_HELD, None)
        if lock is not None:
            lock.release()
