"""The webhook inbox page: what Stripe sent, how its handling went, and replay."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect

from platform_service.deps import AfterCommitDep, DbSession
from platform_service.errors import ValidationFailed
from platform_service.web.common import act, admin_caller
from platform_service.web.render import page, query
from platform_service.webhooks import service as webhooks
from platform_service.webhooks.models import EventStatus
from platform_service.webhooks.schemas import WebhookReplayFilter, event_out

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE_SIZE = 25
STATUSES = [s.value for s in EventStatus]


def _filters(status: str | None, type_: str | None, account_id: str | None) -> dict[str, str]:
    """The filters as the service takes them: an unknown status is no filter, text is trimmed."""
    return {
        "status": status if status in STATUSES else "",
        "type": (type_ or "").strip()[:120],
        "account_id": (account_id or "").strip()[:64],
    }


def _back(filters: dict[str, str]) -> str:
    qs = query(**filters)
    return f"/ui/webhooks?{qs}" if qs else "/ui/webhooks"


class WebhookInboxController(Controller):
    path = "/ui/webhooks"
    include_in_schema = False

    @get("/")
    async def inbox(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        status: FromQuery[str | None] = None,
        type: FromQuery[str | None] = None,
        account_id: FromQuery[str | None] = None,
        starting_after: FromQuery[str | None] = None,
        notice: FromQuery[str | None] = None,
        count: FromQuery[int | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[str]:
        admin_caller(request)
        filters = _filters(status, type, account_id)
        found = await webhooks.list_events(
            db_session,
            limit=PAGE_SIZE,
            starting_after=starting_after or None,
            type_=filters["type"] or None,
            account_id=filters["account_id"] or None,
            status=filters["status"] or None,
        )
        events = [event_out(r, with_payload=False) for r in found.rows]
        return page(
            request,
            "web/webhooks.html",
            {
                "events": events,
                "has_more": found.has_more,
                "filters": filters,
                "filtered": any(filters.values()),
                "statuses": STATUSES,
                "notice": notice if notice in ("replayed", "replayed_many") else None,
                "count": count,
                "error": (error or "")[:80] or None,
                "next_page": query(**filters, starting_after=events[-1].id)
                if found.has_more
                else None,
                "first_page": query(**filters) if starting_after else None,
            },
        )

    @post("/replay", status_code=303)
    async def replay_matching(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        after_commit: AfterCommitDep,
        data: FormData,
    ) -> Redirect:
        """Replay every event the inbox's current filter shows (up to the API's limit)."""
        admin_caller(request)
        filters = _filters(data.get("status"), data.get("type"), data.get("account_id"))
        if not any(filters.values()):
            raise ValidationFailed("Give at least one of type, status, account_id or since.")
        replayed = await webhooks.replay_matching(
            db_session,
            after_commit,
            limit=WebhookReplayFilter().limit,
            type_=filters["type"] or None,
            account_id=filters["account_id"] or None,
            status=filters["status"] or None,
        )
        back = _back(filters)
        joiner = "&" if "?" in back else "?"
        return Redirect(f"{back}{joiner}notice=replayed_many&count={replayed}", status_code=303)

    @post("/{event_id:str}/replay", status_code=303)
    async def replay_one(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        after_commit: AfterCommitDep,
        event_id: FromPath[str],
        data: FormData,
    ) -> Redirect:
        admin_caller(request)
        filters = _filters(data.get("status"), data.get("type"), data.get("account_id"))
        return await act(
            db_session,
            lambda: webhooks.replay_event(db_session, after_commit, event_id),
            back=_back(filters),
            notice="replayed",
        )
