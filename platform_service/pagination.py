"""Keyset pagination, written once: every list is ordered on a unique, increasing column.

A cursor (`starting_after`) names the last object of the previous page, by its
public id or by the ordering column itself; a cursor that names nothing is a
422 on `starting_after` everywhere, never a silently restarted list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from platform_service.errors import ValidationFailed

T = TypeVar("T")


class Page(NamedTuple, Generic[T]):
    rows: Sequence[T]
    has_more: bool


async def keyset_page(
    session: AsyncSession,
    stmt: Select[tuple[T]],
    *,
    order: InstrumentedAttribute[Any],
    limit: int,
    starting_after: Any | None = None,
    cursor_id: InstrumentedAttribute[Any] | None = None,
    descending: bool = True,
    what: str = "object",
) -> Page[T]:
    """One page of `stmt`, ordered on `order`, after the row `starting_after` names.

    With `cursor_id`, `starting_after` is that column's value (a public id) and is
    looked up; without, it is a value of `order` itself.
    """
    stmt = stmt.order_by(order.desc() if descending else order.asc()).limit(limit + 1)
    if starting_after is not None:
        position = starting_after
        if cursor_id is not None:
            position = await session.scalar(select(order).where(cursor_id == starting_after))
            if position is None:
                raise ValidationFailed(
                    f"No such {what}: '{_shown(starting_after)}'", param="starting_after"
                )
        stmt = stmt.where(order < position if descending else order > position)
    rows = list(await session.scalars(stmt))
    return Page(rows[:limit], len(rows) > limit)


def _shown(value: Any, limit: int = 80) -> str:
    """A value as an error message quotes it: a 30 KB cursor is not echoed back whole."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
