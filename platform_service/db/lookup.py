"""Get-or-404, written once: a missing row is the API's 404 in its error shape."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

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
    """The row of `model` whose primary key (or column `by`) is `key`, or NotFound."""
    if by is None:
        row = await session.get(model, key, with_for_update=for_update or None)
    else:
        stmt = select(model).where(by == key)
        row = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if row is None:
        raise NotFound(f"No such {what}: '{key}'", param=param)
    return row
