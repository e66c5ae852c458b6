"""API shapes of the auth domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from platform_service.schemas import Output


class AuditEventOut(Output, kw_only=True):
    id: str
    created_at: datetime
    actor: str
    action: str
    account_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditEventList(Output, kw_only=True):
    data: list[AuditEventOut]
    has_more: bool
