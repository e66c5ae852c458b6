"""The audit log page: who changed what, filtered by account, actor and action."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.models import AuditEvent
from platform_service.deps import DbSession
from platform_service.pagination import Page, keyset_page
from platform_service.web.common import admin_caller
from platform_service.web.render import page, query

PAGE_SIZE = 25


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}:%"


async def list_audit_events(
    session: AsyncSession,
    *,
    account_id: str | None,
    actor: str | None,
    action: str | None,
    limit: int,
    starting_after: str | None,
) -> Page[AuditEvent]:
    """`auth.audit.list_events` plus an actor filter: a whole actor (`admin:key_…`), or
    every actor of a kind (`admin`, `seller`, `system`)."""
    stmt = select(AuditEvent)
    if account_id is not None:
        stmt = stmt.where(AuditEvent.account_id == account_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if actor is not None:
        stmt = stmt.where(
            or_(AuditEvent.actor == actor, AuditEvent.actor.like(_like_prefix(actor), escape="\\"))
        )
    return await keyset_page(
        session,
        stmt,
        order=AuditEvent.seq,
        limit=limit,
        starting_after=starting_after,
        cursor_id=AuditEvent.id,
        what="audit event",
    )


class AuditPageController(Controller):
    path = "/ui/audit"
    include_in_schema = False

    @get("/")
    async def audit_log(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        account_id: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> Response[str]:
        admin_caller(request)
        filters = {
            "account_id": (account_id or "").strip()[:64],
            "actor": (actor or "").strip()[:120],
            "action": (action or "").strip()[:80],
        }
        found = await list_audit_events(
            db_session,
            account_id=filters["account_id"] or None,
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            limit=PAGE_SIZE,
            starting_after=starting_after or None,
        )
        return page(
            request,
            "web/audit.html",
            {
                "events": found.rows,
                "filters": filters,
                "next_page": query(**filters, starting_after=found.rows[-1].id)
                if found.has_more
                else None,
                "first_page": query(**filters) if starting_after else None,
            },
        )
