"""The audit log: every change, with actor, action, account, before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.models import AuditEvent
from platform_service.pagination import Page, keyset_page


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
) -> Page[AuditEvent]:
    """Newest first, keyset-paginated on the sequence number."""
    stmt = select(AuditEvent)
    if account_id is not None:
        stmt = stmt.where(AuditEvent.account_id == account_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return await keyset_page(
        session,
        stmt,
        order=AuditEvent.seq,
        limit=limit,
        starting_after=starting_after,
        cursor_id=AuditEvent.id,
        what="audit event",
    )
