"""The request pipeline for `/v1/...` and `/v2/...`: auth, account scoping, faults,
idempotency, validation, the handler, expansion and the request log. Framework-free so
the ASGI layer stays a thin adapter.

v2 differs only at the edges: JSON bodies (GET still uses the query string), the
`Stripe-Context` header instead of `Stripe-Account`, dotted `param` paths and v2 error
types (`errors.v2_body`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_service.sandbox import resources  # noqa: F401 - registers the routes
from platform_service.sandbox.errors import (
    StripeError,
    account_invalid,
    api_error,
    invalid_request,
    v2_body,
)
from platform_service.sandbox.faults import FaultKind, Faults, monotonic
from platform_service.sandbox.forms import decode_form_body, decode_pairs, decode_query
from platform_service.sandbox.routing import Ctx, Route, match
from platform_service.sandbox.state import IdempotencyRecord, SandboxState, new_id
from platform_service.sandbox.validation import Mode, schema_for, validate

log = logging.getLogger(__name__)

SANDBOX_HEADER = {"Stripe-Sandbox": "platform_service"}
API_VERSION = "2026-10-28.endive"


@dataclass
class ApiRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-cased names
    base_url: str
    body: bytes = b""
    form_pairs: list[tuple[str, Any]] | None = None  # multipart, already parsed

    @property
    def v2(self) -> bool:
        return self.path.startswith("/v2/")

    def scope_header(self) -> str | None:
        """The account acted as: `Stripe-Account` (v1), or the last segment of
        `Stripe-Context` (v2, which may name a chain like `acct_a/acct_b`)."""
        if not self.v2:
            return self.headers.get("stripe-account")
        context = self.headers.get("stripe-context")
        return context.rsplit("/", 1)[-1] if context else None


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Api:
    def __init__(self, state: SandboxState, faults: Faults) -> None:
        self.state = state
        self.faults = faults

    async def handle(self, req: ApiRequest) -> ApiResponse:
        t = monotonic()
        request_id = new_id("req_", 14)
        entry: dict[str, Any] = {
            "t": t,
            "request_id": request_id,
            "method": req.method,
            "path": req.path,
            "stripe_account": req.headers.get("stripe-account"),
            "stripe_context": req.headers.get("stripe-context"),
            "idempotency_key": req.headers.get("idempotency-key"),
            "params": None,
            "status": None,
        }
        self.state.request_log.append(entry)
        replayed = False
        try:
            params = self._decode(req)
            entry["params"] = _loggable(params)
            response = await self._serve(req, params, request_id, t)
            replayed = response.headers.get("Idempotent-Replayed") == "true"
        except StripeError as exc:
            response = ApiResponse(exc.status, exc.body(), dict(exc.headers))
        if req.v2 and response.status >= 400:
            response.body = v2_body(response.status, response.body)
        entry["status"] = response.status
        entry["replayed"] = replayed
        if response.status >= 400:
            error = response.body.get("error", {})
            entry["error"] = {k: error.get(k) for k in ("type", "code", "param")}
            if reason := response.headers.get("Stripe-Rate-Limited-Reason"):
                entry["error"]["rate_limited_reason"] = reason
        response.headers.update(SANDBOX_HEADER)
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = req.headers.get("stripe-version", API_VERSION)
        if entry["idempotency_key"]:
            response.headers["Idempotency-Key"] = entry["idempotency_key"]
        return response

    def _decode(self, req: ApiRequest) -> dict[str, Any]:
        if req.form_pairs is not None:
            return decode_pairs(req.form_pairs)
        if req.method == "POST" and req.v2:
            try:
                params = json.loads(req.body or b"{}")
            except ValueError:
                raise invalid_request("Invalid JSON in the request body.") from None
            if not isinstance(params, dict):
                raise invalid_request("The request body must be a JSON object.")
            return params
        if req.method == "POST":
            return decode_form_body(req.body)
        return decode_query(req.query)

    async def _serve(
        self, req: ApiRequest, params: dict[str, Any], request_id: str, t: float
    ) -> ApiResponse:
        _authenticate(req.headers.get("authorization"))
        found = match(req.method, req.path)
        if found is None:
            raise StripeError(
                404,
                f"Unrecognized request URL ({req.method}: {req.path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                stored=False,
            )
        route, path_args = found
        scope_id = req.scope_header() or self.state.platform_id
        if scope_id != self.state.platform_id and not self.state.is_connected(scope_id):
            raise account_invalid(scope_id)
        fault = self.faults.before_request(req.method, req.path, route.endpoint, t)
        self.faults.enter()
        try:
            return await self._execute(req, params, route, path_args, scope_id, request_id, fault)
        finally:
            self.faults.leave()

    async def _execute(
        self,
        req: ApiRequest,
        params: dict[str, Any],
        route: Route,
        path_args: dict[str, str],
        scope_id: str,
        request_id: str,
        fault: FaultKind | None,
    ) -> ApiResponse:
        key = req.headers.get("idempotency-key") if req.method == "POST" else None
        record_key = (scope_id, key) if key else None
        if record_key:
            replay = self._idempotency_check(record_key, req, params)
            if replay is not None:
                return replay
        if fault == "500_stored":
            # Execution began and failed before changing anything: Stripe still keeps
            # the 500 under the key, so only a new key can try again.
            failure = api_error()
            if record_key:
                self._settle(record_key, True, failure.status, failure.body(), {})
            raise failure
        # Ids are unique across accounts, so the lock ignores which account asked.
        lock_key = ("object", path_args["id"]) if route.locks_object else None
        try:
            if lock_key:
                self.faults.lock(lock_key)
        except StripeError:
            if record_key:
                del self.state.idempotency[record_key]
            raise
        try:
            response = await self._run(route, req, params, path_args, scope_id, request_id, key)
        except StripeError as exc:
            if record_key:
                self._settle(record_key, exc.stored, exc.status, exc.body(), exc.headers)
            raise
        except Exception:
            # A sandbox bug must not leave the key "in flight" forever; answer like a
            # Stripe 500 so callers retry, and keep the traceback for whoever debugs it.
            log.exception("sandbox handler failed: %s %s", req.method, req.path)
            if record_key:
                self._settle(record_key, False, 500, {}, {})
            raise api_error() from None
        finally:
            if lock_key:
                self.faults.unlock(lock_key)
        if key and req.method != "GET":
            self.state.applied[key] += 1
        if fault == "500_after_apply":
            # The write happened and its answer is a 500; Stripe replays that 500 to
            # every retry with the key, so the caller must find out by reading back.
            failure = api_error()
            if record_key:
                self._settle(record_key, True, failure.status, failure.body(), {})
            raise failure
        if record_key:
            self._settle(record_key, True, response.status, response.body, {})
        return response

    async def _run(
        self,
        route: Route,
        req: ApiRequest,
        params: dict[str, Any],
        path_args: dict[str, str],
        scope_id: str,
        request_id: str,
        key: str | None,
    ) -> ApiResponse:
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        params = dict(params)
        page = params.pop("page", None) if req.v2 and req.method == "GET" else None
        mode = Mode(json=req.v2 and req.method == "POST", dotted=req.v2)
        checked = validate(params, schema_for(route.params), mode)
        if page is not None:
            if not isinstance(page, str) or "{id}" in route.template:
                raise invalid_request("Received unknown parameter: page", param="page",
                                      code="parameter_unknown")  # fmt: skip
            checked["page"] = page
        ctx = Ctx(self.state, self.state.scope_for(scope_id), req.base_url, request_id, key,
                  v2_ready_delay_s=self.faults.v2_ready_delay_s)  # fmt: skip
        self.state.current_request = (request_id, key)
        try:
            body = route.handler(ctx, checked, path_args)
        finally:
            self.state.current_request = None
        expand = [] if req.v2 else checked.get("expand") or []
        if expand:
            body = copy.deepcopy(body)
            for path in expand:
                _expand(ctx, body, path.split("."))
        return ApiResponse(200, body)

    def _idempotency_check(
        self, record_key: tuple[str, str], req: ApiRequest, params: dict[str, Any]
    ) -> ApiResponse | None:
        record = self.state.idempotency.get(record_key)
        fingerprint = _loggable(params)
        if record is None:
            self.state.idempotency[record_key] = IdempotencyRecord(
                req.method, req.path, fingerprint
            )
            return None
        if record.status is None:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through). Please retry this request later.",
                code="idempotency_key_in_use",
                stored=False,
            )
        if record.path != req.path or record.params != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{record_key[1]}' if you "
                "meant to execute a different request.",
                type="idempotency_error",
                stored=False,
            )
        assert record.body is not None
        headers = dict(record.headers)
        headers["Idempotent-Replayed"] = "true"
        return ApiResponse(record.status, copy.deepcopy(record.body), headers)

    def _settle(
        self,
        record_key: tuple[str, str],
        stored: bool,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        if not stored:
            self.state.idempotency.pop(record_key, None)
            return
        record = self.state.idempotency[record_key]
        record.status, record.body, record.headers = status, copy.deepcopy(body), dict(headers)


def _authenticate(header: str | None) -> None:
    if not header:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            stored=False,
        )
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.startswith("sk_test_"):
        raise StripeError(
            401,
            "Invalid API Key provided: the sandbox accepts only sk_test_ keys.",
            code="api_key_invalid" if key.startswith("sk_live_") else None,
            stored=False,
        )


def _loggable(params: Any) -> Any:
    """JSON-safe copy of the decoded params (uploads become a short description)."""
    return json.loads(json.dumps(params, default=lambda o: f"<upload {len(o.content)} bytes>"))


def _expand(ctx: Ctx, node: Any, path: list[str]) -> None:
    if not isinstance(node, dict) or not path:
        return
    head, rest = path[0], path[1:]
    if head == "data" and node.get("object") == "list":
        for item in node["data"]:
            _expand(ctx, item, rest)
        return
    value = node.get(head)
    if isinstance(value, str) and not rest:
        found = _find(ctx, value)
        if found is not None:
            node[head] = copy.deepcopy(found)
    elif isinstance(value, str):
        found = _find(ctx, value)
        if found is not None:
            node[head] = copy.deepcopy(found)
            _expand(ctx, node[head], rest)
    else:
        _expand(ctx, value, rest)


def _find(ctx: Ctx, object_id: str) -> dict[str, Any] | None:
    for scope in (ctx.scope, ctx.state.platform):
        for table in scope.collections.values():
            if object_id in table:
                return table[object_id]
    return None
