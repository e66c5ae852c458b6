"""The sandbox's Litestar app: `/v1/...` and `/v2/...` go through `api.Api`;
`/_sandbox/...` holds the admin endpoints tests and benchmarks drive it with, and the
HTML pages.

Admin endpoints (JSON, no auth):
    GET    /_sandbox/requests[?since=SEQ]   what /v1 and /v2 served, oldest first: seq, t
                                            (monotonic), method, path, stripe_account,
                                            stripe_context, idempotency_key, params,
                                            status, replayed, error
    DELETE /_sandbox/requests               clear the log
    GET    /_sandbox/idempotency            {idempotency key: times a write was applied}
    GET|POST /_sandbox/faults               {rate_limit, endpoint_rate_limit, endpoint_limits:
                                            {"POST /v1/accounts/{id}": 20}, account_create_rate,
                                            concurrency_limit, latency_ms, fail_rate,
                                            v2_ready_delay_s (seconds before a v1-made
                                            account shows in /v2), clear_next,
                                            next: [{kind: 500|rate_limit|lock_timeout|
                                            500_after_apply|500_stored, count, method?,
                                            path? (prefix)}]}; POST also takes restore: true
                                            (the start configuration) and limits: true|false
                                            (Stripe's test-mode limits, or none)
    POST   /_sandbox/accounts/{id}/onboarding   {"outcome": complete|requirements_due|
                                                under_review|restricted|rejected}
    POST   /_sandbox/accounts/{id}/deauthorize  later Stripe-Account calls answer 403; the
                                                event goes to the platform's Connect endpoints
    POST   /_sandbox/reset  {"seed_demo"?: bool}   POST /_sandbox/demo
    GET    /_sandbox/webhooks/deliveries    webhook and thin-event deliveries alike
    GET    /_sandbox/files/{id}             public image bytes
    POST   /_sandbox/event_destinations     {"url", "secret", "events"?: [v2 event types]}:
                                            thin notifications go there too
    DELETE /_sandbox/event_destinations     forget the registered ones (not the
                                            `--event-destination` ones)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, delete, get, post, route
from litestar.datastructures import ResponseHeader, UploadFile
from litestar.openapi.config import OpenAPIConfig
from litestar.params import FromPath, FromQuery

from platform_service.sandbox import pages, v2_accounts
from platform_service.sandbox.api import SANDBOX_HEADER, Api, ApiRequest, ApiResponse
from platform_service.sandbox.demo import seed_demo
from platform_service.sandbox.errors import StripeError, account_invalid, resource_missing
from platform_service.sandbox.faults import Faults
from platform_service.sandbox.forms import Upload
from platform_service.sandbox.resources.accounts import OUTCOMES, set_outcome
from platform_service.sandbox.resources.portal import SANDBOX_APPLICATION
from platform_service.sandbox.state import SandboxState
from platform_service.sandbox.thin_events import EventDestination, ThinEventDispatcher
from platform_service.sandbox.webhooks import StaticEndpoint, WebhookDispatcher

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Runtime:
    """Everything one running sandbox holds; the app reaches it through `app.state`."""

    state: SandboxState
    faults: Faults
    dispatcher: WebhookDispatcher
    thin_dispatcher: ThinEventDispatcher
    api: Api = field(init=False)

    def __post_init__(self) -> None:
        self.api = Api(self.state, self.faults)
        self.state.listeners.append(lambda event: v2_accounts.on_v1_event(self.state, event))

    async def start(self) -> None:
        await self.dispatcher.start()
        await self.thin_dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        await self.thin_dispatcher.stop()

    async def drain(self, timeout: float = 10.0) -> None:
        await self.dispatcher.drain(timeout)
        await self.thin_dispatcher.drain(timeout)


def _runtime(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=json.dumps(body, indent=2).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers or {},
    )


def _api_response(response: ApiResponse) -> Response[bytes]:
    return _json(response.status, response.body, response.headers)


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


@route("/v1/{path:path}", http_method=["GET", "POST", "DELETE"])
async def stripe_api(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[bytes]:
    return await _serve_api(request, "/v1" + path)


@route("/v2/{path:path}", http_method=["GET", "POST", "DELETE"])
async def stripe_api_v2(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[bytes]:
    return await _serve_api(request, "/v2" + path)


async def _serve_api(request: Request[Any, Any, Any], full_path: str) -> Response[bytes]:
    runtime = _runtime(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if request.method == "GET" and full_path.endswith("/contents"):
        return await _file_contents(runtime, full_path, headers)
    form_pairs: list[tuple[str, Any]] | None = None
    body = b""
    if request.method == "POST":
        if headers.get("content-type", "").startswith("multipart/form-data"):
            form_pairs = []
            form = await request.form()
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    content = await value.read()
                    form_pairs.append((key, Upload(value.filename, content, value.content_type)))
                else:
                    form_pairs.append((key, value))
        else:
            body = await request.body()
    api_request = ApiRequest(
        method=request.method,
        path=full_path,
        query=request.scope.get("query_string", b"").decode(),
        headers=headers,
        base_url=_base_url(request),
        body=body,
        form_pairs=form_pairs,
    )
    return _api_response(await runtime.api.handle(api_request))


async def _file_contents(runtime: Runtime, path: str, headers: dict[str, str]) -> Response[bytes]:
    file_id = path.removeprefix("/v1/files/").removesuffix("/contents")
    scope_id = headers.get("stripe-account") or runtime.state.platform_id
    try:
        if not headers.get("authorization", "").lower().startswith("bearer sk_test_"):
            raise StripeError(401, "Invalid API Key provided.", stored=False)
        if scope_id != runtime.state.platform_id and not runtime.state.is_connected(scope_id):
            raise account_invalid(scope_id)
        if runtime.state.scope_for(scope_id).get("files", file_id) is None:
            raise resource_missing("file", file_id)
    except StripeError as exc:
        return _json(exc.status, exc.body(), exc.headers)
    return _file_response(runtime, file_id)


def _file_response(runtime: Runtime, file_id: str) -> Response[bytes]:
    blob = runtime.state.file_blobs[file_id]
    kind = runtime.state.platform.get("files", file_id) or {}
    media = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}.get(
        str(kind.get("type")), "application/octet-stream"
    )
    return Response(content=blob, media_type=media)


# -- admin -------------------------------------------------------------------------------


@get("/_sandbox/requests", sync_to_thread=False)
def list_requests(request: Request[Any, Any, Any], since: FromQuery[int] = 0) -> Response[bytes]:
    log = _runtime(request).state.request_log
    return _json(200, [{"seq": i, **entry} for i, entry in enumerate(log) if i >= since])


@delete("/_sandbox/requests", status_code=200, sync_to_thread=False)
def clear_requests(request: Request[Any, Any, Any]) -> Response[bytes]:
    _runtime(request).state.request_log.clear()
    return _json(200, {"cleared": True})


@get("/_sandbox/idempotency", sync_to_thread=False)
def idempotency_counts(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _json(200, dict(_runtime(request).state.applied))


@get("/_sandbox/faults", sync_to_thread=False)
def get_faults(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _json(200, _runtime(request).faults.snapshot())


@post("/_sandbox/faults", status_code=200)
async def set_faults(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = _runtime(request)
    try:
        runtime.faults.configure(json.loads(await request.body() or b"{}"))
    except (ValueError, KeyError, TypeError) as exc:
        return _json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
    return _json(200, runtime.faults.snapshot())


@post("/_sandbox/accounts/{account_id:str}/onboarding", status_code=200)
async def drive_onboarding(
    request: Request[Any, Any, Any], account_id: FromPath[str]
) -> Response[bytes]:
    runtime = _runtime(request)
    body = json.loads(await request.body() or b"{}")
    outcome = body.get("outcome")
    account = runtime.state.accounts().get(account_id)
    if account is None:
        return _json(404, resource_missing("account", account_id).body())
    if outcome not in OUTCOMES:
        message = f"outcome must be one of {', '.join(OUTCOMES)}"
        return _json(400, {"error": {"type": "invalid_request_error", "message": message}})
    return _json(200, set_outcome(runtime.state, account, outcome))


@post("/_sandbox/accounts/{account_id:str}/deauthorize", status_code=200, sync_to_thread=False)
def deauthorize(request: Request[Any, Any, Any], account_id: FromPath[str]) -> Response[bytes]:
    state = _runtime(request).state
    if account_id not in state.accounts():
        return _json(404, resource_missing("account", account_id).body())
    state.deauthorized.add(account_id)
    application = {"id": SANDBOX_APPLICATION, "object": "application", "name": "platform_service"}
    state.emit(account_id, "account.application.deauthorized", application)
    return _json(200, {"deauthorized": account_id})


@post("/_sandbox/reset", status_code=200)
async def reset(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = _runtime(request)
    body = json.loads(await request.body() or b"{}")
    runtime.state.reset()
    runtime.faults.configure({"clear_next": True})
    if body.get("seed_demo"):
        seed_demo(runtime.state)
    return _json(200, {"reset": True, "platform_account_id": runtime.state.platform_id})


@post("/_sandbox/demo", status_code=200, sync_to_thread=False)
def demo(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _json(200, seed_demo(_runtime(request).state))


@get("/_sandbox/webhooks/deliveries", sync_to_thread=False)
def deliveries(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _json(200, [d.__dict__ for d in _runtime(request).state.deliveries])


@post("/_sandbox/event_destinations", status_code=200)
async def add_event_destination(request: Request[Any, Any, Any]) -> Response[bytes]:
    state = _runtime(request).state
    body = json.loads(await request.body() or b"{}")
    url, secret, events = body.get("url"), body.get("secret"), body.get("events") or ["*"]
    if not isinstance(url, str) or not isinstance(secret, str) or not isinstance(events, list):
        message = 'expected {"url": str, "secret": str, "events"?: [str]}'
        return _json(400, {"error": {"type": "invalid_request_error", "message": message}})
    state.event_destinations.append((url, secret, tuple(events)))
    return _json(200, {"url": url, "events": events})


@delete("/_sandbox/event_destinations", status_code=200, sync_to_thread=False)
def clear_event_destinations(request: Request[Any, Any, Any]) -> Response[bytes]:
    _runtime(request).state.event_destinations.clear()
    return _json(200, {"cleared": True})


@get("/_sandbox/files/{file_id:str}", sync_to_thread=False)
def public_file(request: Request[Any, Any, Any], file_id: FromPath[str]) -> Response[bytes]:
    """Unauthenticated, for the sandbox's own pages (Stripe serves these from its CDN)."""
    runtime = _runtime(request)
    if file_id not in runtime.state.file_blobs:
        return _json(404, resource_missing("file", file_id).body())
    return _file_response(runtime, file_id)


def create_app(
    state: SandboxState | None = None,
    faults: Faults | None = None,
    webhooks: list[StaticEndpoint] | None = None,
    event_destinations: list[EventDestination] | None = None,
) -> Litestar:
    """The ASGI app; its `Runtime` is at `app.state.runtime`."""
    state = state or SandboxState()
    runtime = Runtime(
        state,
        faults or Faults(),
        WebhookDispatcher(state, webhooks or []),
        ThinEventDispatcher(state, event_destinations or []),
    )
    app = Litestar(
        route_handlers=[
            stripe_api,
            stripe_api_v2,
            add_event_destination,
            clear_event_destinations,
            list_requests,
            clear_requests,
            idempotency_counts,
            get_faults,
            set_faults,
            drive_onboarding,
            deauthorize,
            reset,
            demo,
            deliveries,
            public_file,
            *pages.handlers,
        ],
        template_config=pages.template_config(TEMPLATES),
        response_headers=[ResponseHeader(name=k, value=v) for k, v in SANDBOX_HEADER.items()],
        on_startup=[runtime.start],
        on_shutdown=[runtime.stop],
        openapi_config=OpenAPIConfig(title="platform_service Stripe sandbox", version="1",
                                     path="/_sandbox/schema"),
        debug=False,
    )  # fmt: skip
    app.state.runtime = runtime
    return app
