"""v2 list paging: `{data, next_page_url, previous_page_url}`, where each URL carries an
opaque `page` token that holds the query (the SDK follows the URL as it is). Tokens
are self-contained, so paging keeps no state however long the sandbox runs."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from platform_service.sandbox.errors import invalid_request
from platform_service.sandbox.routing import Ctx, Params

MAX_LIMIT = 100
DEFAULT_LIMIT = 10


def page_of(
    ctx: Ctx,
    url: str,
    items: list[dict[str, Any]],
    params: Params,
    query: dict[str, Any],
    matches: Callable[[dict[str, Any], dict[str, Any]], bool],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One page of `items` (oldest first as stored; listed newest first) and the list
    object around it; `data` is left for the caller to render."""
    offset = 0
    if token := params.get("page"):
        saved = _decode(token)
        if saved is None or saved["scope"] != ctx.scope.account_id or saved["url"] != url:
            raise invalid_request(f"Invalid page token: '{token}'", param="page")
        query, offset = saved["query"], saved["offset"]
        limit = saved["limit"]
    else:
        limit = params.get("limit", DEFAULT_LIMIT)
        query = {**query, "limit": limit}
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_request(f"Invalid limit: must be between 1 and {MAX_LIMIT}", param="limit")
    chosen = [item for item in reversed(items) if matches(item, query)]
    found = chosen[offset : offset + limit]

    def link(at: int) -> str:
        saved = {"scope": ctx.scope.account_id, "url": url, "query": query, "offset": at,
                 "limit": limit}  # fmt: skip
        token = base64.urlsafe_b64encode(json.dumps(saved).encode()).decode().rstrip("=")
        return f"{url}?page=page_{token}"

    page: dict[str, Any] = {
        "data": [],
        "next_page_url": link(offset + limit) if offset + limit < len(chosen) else None,
        "previous_page_url": link(max(0, offset - limit)) if offset > 0 else None,
    }
    return page, found


def _decode(token: str) -> dict[str, Any] | None:
    raw = token.removeprefix("page_")
    try:
        saved = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        return None
    return saved if isinstance(saved, dict) else None
