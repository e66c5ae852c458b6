"""The audit log: every change, with actor, action, account, before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.models import AuditEvent


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    account_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction."""
    event = AuditEvent(
        actor=actor, action=action, account_id=account_id, before=before, after=after
    )
    session.add(event)
    return event


async def list_events(
    session: AsyncSession,
    *,
    account_id: str | None,
    action: str | None,
    limit: int,
    starting_after: str | None,
) -> list[AuditEvent]:
    """Newest first, keyset-paginated on the sequence number."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if account_id is not None:
        stmt = stmt.where(AuditEvent.account_id == account_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if starting_after is not None:
        cursor = await session.scalar(select(AuditEvent.seq).where(AuditEvent.id == starting_after))
        if cursor is not None:
            stmt = stmt.where(AuditEvent.seq < cursor)
    return list(await session.scalars(stmt))
