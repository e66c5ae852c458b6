"""Thin events (`/v2/core/events`) and v2 account links (`/v2/core/account_links`)."""

from __future__ import annotations

import time
from typing import Any

from stripe.params.v2.core import AccountLinkCreateParams, EventListParams, EventRetrieveParams

from platform_service.sandbox import v2_accounts
from platform_service.sandbox.errors import invalid_request, resource_missing
from platform_service.sandbox.routing import Ctx, Params, route
from platform_service.sandbox.state import new_id
from platform_service.sandbox.v2_pages import page_of
from platform_service.sandbox.v2_view import iso, parse_iso

LINK_TTL_S = 300
_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _context(ctx: Ctx) -> str | None:
    return None if ctx.on_platform else ctx.scope.account_id


@route("GET", "/v2/core/events/{id}", EventRetrieveParams)
def retrieve_event(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    event = ctx.state.v2_events.get(args["id"])
    # An event is read in its own context, as `EventNotification.fetch_event` does.
    if event is None or event["context"] != _context(ctx):
        raise resource_missing("event", args["id"], param=None)
    return event


@route("GET", "/v2/core/events", EventListParams)
def list_events(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    bounds = {}
    for op, value in (params.get("created") or {}).items():
        try:
            bounds[op] = parse_iso(value)
        except ValueError:
            raise invalid_request(
                f"Invalid timestamp: created.{op} must be ISO-8601", param=f"created.{op}"
            ) from None
    types = params.get("types") or []
    if len(types) > 20:
        raise invalid_request("types can hold at most 20 event types.", param="types")
    query = {"context": _context(ctx), "object_id": params.get("object_id"), "types": types,
             "created": bounds}  # fmt: skip

    def matches(event: dict[str, Any], q: dict[str, Any]) -> bool:
        created = parse_iso(event["created"])
        return (
            event["context"] == q["context"]
            and (not q["object_id"] or _object_id(event) == q["object_id"])
            and (not q["types"] or event["type"] in q["types"])
            and all(_COMPARE[op](created, bound) for op, bound in q["created"].items())
        )

    events = list(ctx.state.v2_events.values())
    page, found = page_of(ctx, "/v2/core/events", events, params, query, matches)
    page["data"] = found
    return page


@route("POST", "/v2/core/account_links", AccountLinkCreateParams)
def create_account_link(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    record = v2_accounts.find(ctx.state, params["account"], ctx.scope.account_id)
    if record["id"] not in ctx.state.accounts():
        raise invalid_request(
            "Account Links are for accounts with the merchant or recipient configuration.",
            param="account",
        )
    use_case = params["use_case"]
    kind = use_case["type"]
    options = use_case.get(kind)
    if options is None:
        raise invalid_request(
            f"Missing required param: use_case.{kind}.",
            param=f"use_case.{kind}",
            code="parameter_missing",
        )
    created = time.time()
    token = new_id("", 32)
    ctx.state.account_links[token] = {
        "account": record["id"],
        "refresh_url": options["refresh_url"],
        "return_url": options.get("return_url"),
        "expires_at": int(created) + LINK_TTL_S,
        "used": False,
        "v2": {"use_case": kind, "configurations": list(record["applied"])},
    }
    body: dict[str, Any] = {"type": kind, "account_onboarding": None, "account_update": None}
    body[kind] = {
        "collection_options": options.get("collection_options"),
        "refresh_url": options["refresh_url"],
        "return_url": options.get("return_url"),
    }
    return {
        "object": "v2.core.account_link",
        "account": record["id"],
        "created": iso(created),
        "expires_at": iso(int(created) + LINK_TTL_S),
        "livemode": False,
        "url": f"{ctx.base_url}/_sandbox/pages/onboarding/{token}",
        "use_case": body,
    }


def link_returned(state: Any, link: dict[str, Any]) -> None:
    """Finishing a v2 link's flow: `v2.core.account_link.returned` (after the account's own)."""
    record = state.v2_accounts.get(link["account"])
    if record is None or "v2" not in link:
        return
    data = {"account_id": record["id"], **link["v2"]}
    v2_accounts.emit(state, "v2.core.account_link.returned", record, reason=None, data=data)


def _object_id(event: dict[str, Any]) -> str | None:
    """The primary object of an event: its related object, or the account a returned
    link names (`object_id` filters on it)."""
    related = event.get("related_object")
    if related is not None:
        return str(related["id"])
    return (event.get("data") or {}).get("account_id")
