"""API shapes of the auth domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from platform_service.schemas import Output


class AuditEventOut(Output, kw_only=True):
    """One change the service made, who asked for it, and the values before and after."""

    id: str
    created_at: datetime
    actor: Annotated[
        str,
        msgspec.Meta(
            description="Who asked: an API key (`<role>:<key id>`), a bulk job "
            "(`bulk:<job id>`), a Stripe event (`stripe:<event id>`) or the system.",
            examples=["admin:7f3a9c2e"],
        ),
    ]
    action: Annotated[
        str,
        msgspec.Meta(description="What was done.", examples=["account.created"]),
    ]
    account_id: Annotated[
        str | None, msgspec.Meta(description="The account it concerned, if one.")
    ] = None
    before: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="The changed values before.")
    ] = None
    after: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="The changed values after.")
    ] = None


class AuditEventList(Output, kw_only=True):
    """One page of audit events, newest first."""

    data: list[AuditEventOut]
    has_more: Annotated[
        bool, msgspec.Meta(description="More pages follow: pass the last `id` as `starting_after`.")
    ]
