"""`GET /v1/audit-events`."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, Parameter

from platform_service.auth import audit
from platform_service.auth.guard import admin_only
from platform_service.auth.schemas import AuditEventList, AuditEventOut
from platform_service.deps import DbSession
from platform_service.openapi import ADMIN, PARAMS, documented


class AuditController(Controller):
    path = "/v1/audit-events"
    guards = [admin_only]
    tags = ["Audit"]

    @get(
        operation_id="ListAuditEvents",
        summary="Audit log, newest first",
        description="Every change the service made and who asked for it (an API key, the "
        "console, a job, a webhook), with the values before and after. Filter by account or "
        "action; keyset pages on `starting_after` (an event id).",
        **documented(ADMIN, PARAMS),
    )
    async def list_audit_events(
        self,
        db_session: DbSession,
        account_id: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        starting_after: FromQuery[str | None] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> AuditEventList:
        page = await audit.list_events(
            db_session,
            account_id=account_id,
            action=action,
            limit=limit,
            starting_after=starting_after,
        )
        data = [
            AuditEventOut(
                id=r.id,
                created_at=r.created_at,
                actor=r.actor,
                action=r.action,
                account_id=r.account_id,
                before=r.before,
                after=r.after,
            )
            for r in page.rows
        ]
        return AuditEventList(data=data, has_more=page.has_more)
