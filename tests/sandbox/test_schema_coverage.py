"""Every route, every closed enum and object reachable in its `stripe.params` type: a
wrong value or an unknown key sent through the real SDK comes back as Stripe's 400
with `param` naming the exact path. So a wrong parameter name anywhere in the service
fails against the sandbox just as it would against Stripe. v1 names paths `a[b][0]`,
v2 (JSON bodies) `a.b[0]`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from platform_service.sandbox.routing import ROUTES, Route
from platform_service.sandbox.server import SandboxServer
from platform_service.sandbox.validation import Enum, ListOf, Node, Obj, OneOf, schema_for

# The Accounts types alone hold thousands of paths; the portal's are what the service
# builds most, so they are covered whole.
MAX_CASES_PER_ROUTE = 25


def _walk(
    node: Node, path: list[str | int], depth: int = 0
) -> Iterator[tuple[str, list[str | int], Node]]:
    if depth > 6:
        return
    if isinstance(node, Obj):
        yield "object", path, node
        for name, child in sorted(node.fields.items()):
            yield from _walk(child, [*path, name], depth + 1)
    elif isinstance(node, ListOf):
        yield from _walk(node.item, [*path, 0], depth + 1)
    elif isinstance(node, Enum):
        yield "enum", path, node
    elif isinstance(node, OneOf) and len(node.options) == 1:
        yield from _walk(node.options[0], path, depth)


def _nest(path: list[str | int], leaf: Any) -> dict[str, Any]:
    value: Any = leaf
    for segment in reversed(path[1:]):
        value = [value] if isinstance(segment, int) else {segment: value}
    return {str(path[0]): value}


def _param(path: list[str | int], v2: bool = False) -> str:
    if v2:
        return str(path[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])
    return str(path[0]) + "".join(f"[{p}]" for p in path[1:])


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        schema = schema_for(route.params)
        limit = None if "billing_portal" in route.template else MAX_CASES_PER_ROUTE
        v2 = route.template.startswith("/v2/")
        for kind, path, _node in itertools.islice(_walk(schema, []), limit):
            if kind == "object":
                bad_path = [*path, "not_a_stripe_param"]
                case = (_nest(bad_path, "x"), _param(bad_path, v2), "parameter_unknown")
            else:
                case = (_nest(path, "not_a_listed_value"), _param(path, v2), None)
            yield pytest.param(route, *case, id=f"{route.endpoint} {case[1]}")


def _url(route: Route) -> str:
    return route.template.replace("{id}", "obj_missing")


@pytest.mark.parametrize(("route", "params", "param", "code"), list(_cases()))
def test_wrong_parameter_is_a_400_naming_its_path(
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    route: Route,
    params: dict[str, Any],
    param: str,
    code: str | None,
) -> None:
    if route.template == "/v1/files" and route.method == "POST":
        params = {**params, "base": "files"}
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.raw_request(route.method.lower(), _url(route), **params)
    assert info.value.http_status == 400
    assert info.value.param == param
    assert info.value.code == code


def test_every_route_has_cases() -> None:
    covered = {case.values[0].endpoint for case in _cases()}
    assert covered == {r.endpoint for r in ROUTES}
