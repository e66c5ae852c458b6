"""Get-or-404, written once: a missing row is the API's 404 in its error shape.

With `for_update` it is also the write lock (`db.locks`): the row is locked
(SQLite: the transaction becomes the writer) and read as it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from platform_service.db.locks import become_writer
from platform_service.errors import NotFound

M = TypeVar("M")


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    key: Any,
    *,
    what: str,
    param: str = "id",
    by: InstrumentedAttribute[Any] | None = None,
    for_update: bool = False,
) -> M:
    """The row of `model` whose primary key (or column `by`) is `key`, or NotFound.

    `for_update`: lock it for a write that follows, refreshing a copy already loaded.
    """
    if for_update:
        await become_writer(session)
    if by is None:
        row = await session.get(
            model, key, with_for_update=for_update or None, populate_existing=for_update
        )
    else:
        stmt = select(model).where(by == key)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"No such {what}: '{key}'", param=param)
    return row


async def get_or_create_for_update(
    session: AsyncSession, model: type[M], key: Any, make: Callable[[], M]
) -> M:
    """The row of `model` at primary key `key`, locked for a write; `make()` adds it if missing.

    Two first writers race to insert: the loser's insert is undone by its
    savepoint and it locks the winner's row instead.
    """
    await become_writer(session)
    row = await session.get(model, key, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            session.add(make())
    except IntegrityError:
        pass
    row = await session.get(model, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row
