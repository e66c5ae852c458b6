"""The route table and what a resource handler receives.

Resource modules register handlers with `@route(...)`; the dispatcher in `api.py`
finds the route, validates the params against the route's `stripe.params` class and
runs the handler with a `Ctx`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from platform_service.sandbox.errors import StripeError, invalid_request, resource_missing
from platform_service.sandbox.state import SandboxState, Scope

Params = dict[str, Any]
Handler = Callable[["Ctx", Params, dict[str, str]], dict[str, Any]]


@dataclass
class Ctx:
    """What a handler may use: the world, the account it acts as, and where it lives."""

    state: SandboxState
    scope: Scope
    base_url: str
    request_id: str
    idempotency_key: str | None = None
    # `POST /_sandbox/faults {"v2_ready_delay_s"}`: how long a v1-made account stays
    # invisible to /v2, as Stripe's v2 view of it lags.
    v2_ready_delay_s: float = 0.0

    @property
    def on_platform(self) -> bool:
        return self.scope.account_id == self.state.platform_id

    def require(self, kind: str, object_id: str, label: str, param: str | None = "id") -> Any:
        obj = self.scope.get(kind, object_id)
        if obj is None:
            raise resource_missing(label, object_id, param=param)
        return obj

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        self.state.emit(self.scope.account_id, event_type, obj, previous)


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "/v1/accounts/{id}": also the per-endpoint rate-limit key
    pattern: re.Pattern[str]
    params: type
    handler: Handler
    # Writes to one object take its lock, so concurrent writes get `lock_timeout`.
    locks_object: bool

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"


ROUTES: list[Route] = []


def route(method: str, template: str, params: type) -> Callable[[Handler], Handler]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    locks = method in ("POST", "DELETE") and "{id}" in template

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, template, re.compile(f"^{regex}$"), params, handler, locks))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for r in ROUTES:
        if r.method != method:
            continue
        m = r.pattern.match(path)
        if m:
            return r, m.groupdict()
    return None


# -- helpers shared by resource modules ------------------------------------------------


def paginate(ctx: Ctx, items: Iterable[dict[str, Any]], params: Params, url: str) -> dict[str, Any]:
    """A Stripe list object, newest first, honouring limit/starting_after/ending_before."""
    # Ties within a second keep insertion order, newest first (sorted() is stable).
    ordered = sorted(list(items)[::-1], key=lambda o: o.get("created", 0), reverse=True)
    limit = params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid_request(
            "Invalid limit: must be between 1 and 100", param="limit", code="parameter_invalid"
        )
    ids = [o["id"] for o in ordered]
    if after := params.get("starting_after"):
        if after not in ids:
            raise resource_missing("object", after, param="starting_after")
        rest = ordered[ids.index(after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before := params.get("ending_before"):
        if before not in ids:
            raise resource_missing("object", before, param="ending_before")
        head = ordered[: ids.index(before)]
        page, has_more = head[-limit:], len(head) > limit
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def created_filter(items: Iterable[dict[str, Any]], created: Any) -> list[dict[str, Any]]:
    out = list(items)
    if created is None:
        return out
    if isinstance(created, int):
        return [o for o in out if o.get("created") == created]
    checks: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    for op, bound in created.items():
        out = [o for o in out if checks[op](o.get("created", 0), bound)]
    return out


def apply_metadata(obj: dict[str, Any], metadata: Any) -> None:
    """Stripe's convention: `metadata=''` clears all, `metadata[k]=''` deletes one key."""
    if metadata is None:
        return
    if metadata == "":
        obj["metadata"] = {}
        return
    current = dict(obj.get("metadata") or {})
    for key, value in metadata.items():
        if value == "":
            current.pop(key, None)
        else:
            current[key] = str(value)
    if len(current) > 50:
        raise StripeError(400, "Metadata can have at most 50 keys.", param="metadata")
    obj["metadata"] = current


def blank_to_none(value: Any) -> Any:
    return None if value == "" else value
