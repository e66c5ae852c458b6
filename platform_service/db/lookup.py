"""Get-or-404, written once: a missing row is the API's 404 in its error shape."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.errors import NotFound

M = TypeVar("M")


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    key: Any,
    *,
    what: str,
    param: str = "id",
    for_update: bool = False,
) -> M:
    """The row of `model` with primary key `key`, or NotFound("No such {what}: …")."""
    row = await session.get(model, key, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"No such {what}: '{key}'", param=param)
    return row
