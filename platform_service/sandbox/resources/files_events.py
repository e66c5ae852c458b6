"""Files, events and webhook endpoints."""

from __future__ import annotations

from typing import Any

from stripe.params._event_list_params import EventListParams
from stripe.params._event_retrieve_params import EventRetrieveParams
from stripe.params._file_create_params import FileCreateParams
from stripe.params._file_list_params import FileListParams
from stripe.params._file_retrieve_params import FileRetrieveParams
from stripe.params._webhook_endpoint_create_params import WebhookEndpointCreateParams
from stripe.params._webhook_endpoint_delete_params import WebhookEndpointDeleteParams
from stripe.params._webhook_endpoint_list_params import WebhookEndpointListParams
from stripe.params._webhook_endpoint_retrieve_params import WebhookEndpointRetrieveParams
from stripe.params._webhook_endpoint_update_params import WebhookEndpointUpdateParams

from platform_service.sandbox.errors import invalid_request
from platform_service.sandbox.forms import Upload
from platform_service.sandbox.images import check_upload, sniff
from platform_service.sandbox.routing import (
    Ctx,
    Params,
    apply_metadata,
    blank_to_none,
    created_filter,
    paginate,
    route,
)
from platform_service.sandbox.state import new_id, now

_BRANDING_PURPOSES = ("business_icon", "business_logo")


@route("POST", "/v1/files", FileCreateParams)
def create_file(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    upload = params["file"]
    if not isinstance(upload, Upload):
        raise invalid_request(
            "The file must be sent as a multipart/form-data file part.", param="file"
        )
    purpose = params["purpose"]
    if purpose in _BRANDING_PURPOSES and (problem := check_upload(upload.content)):
        raise invalid_request(f"Invalid file for purpose {purpose}: {problem}.", param="file")
    info = sniff(upload.content)
    file_id = new_id("file_")
    file_obj = {
        "id": file_id,
        "object": "file",
        "created": now(),
        "expires_at": None,
        "filename": upload.filename,
        "links": {"object": "list", "data": [], "has_more": False, "url": "/v1/file_links"},
        "purpose": purpose,
        "size": len(upload.content),
        "title": None,
        "type": info[0] if info else (upload.filename.rpartition(".")[2] or None),
        "url": f"{ctx.base_url}/v1/files/{file_id}/contents",
    }
    ctx.state.file_blobs[file_id] = upload.content
    return ctx.scope.put("files", file_obj)


@route("GET", "/v1/files", FileListParams)
def list_files(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = created_filter(ctx.scope.table("files").values(), params.get("created"))
    if purpose := params.get("purpose"):
        items = [f for f in items if f["purpose"] == purpose]
    return paginate(ctx, items, params, "/v1/files")


@route("GET", "/v1/files/{id}", FileRetrieveParams)
def retrieve_file(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    file_obj: dict[str, Any] = ctx.require("files", args["id"], "file")
    return file_obj


@route("GET", "/v1/events", EventListParams)
def list_events(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = created_filter(ctx.scope.table("events").values(), params.get("created"))
    if params.get("type"):
        pattern = params["type"]
        if pattern.endswith("*"):
            items = [e for e in items if e["type"].startswith(pattern[:-1])]
        else:
            items = [e for e in items if e["type"] == pattern]
    if params.get("types"):
        items = [e for e in items if e["type"] in params["types"]]
    return paginate(ctx, items, params, "/v1/events")


@route("GET", "/v1/events/{id}", EventRetrieveParams)
def retrieve_event(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = ctx.require("events", args["id"], "event")
    return event


def _endpoint_fields(endpoint: dict[str, Any], params: Params) -> None:
    for key in ("url", "enabled_events", "description", "api_version"):
        if key in params:
            endpoint[key] = blank_to_none(params[key])
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    apply_metadata(endpoint, params.get("metadata"))


@route("POST", "/v1/webhook_endpoints", WebhookEndpointCreateParams)
def create_webhook_endpoint(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    secret = new_id("whsec_", 32)
    endpoint: dict[str, Any] = {
        "id": new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": None,
        "application": None,
        "created": now(),
        "description": None,
        "livemode": False,
        "metadata": {},
        "status": "enabled",
        "connect": params.get("connect", False),
    }
    _endpoint_fields(endpoint, params)
    ctx.state.webhook_secrets[endpoint["id"]] = secret
    ctx.scope.put("webhook_endpoints", endpoint)
    # The secret is shown only in the create response, as on Stripe.
    return {**endpoint, "secret": secret}


@route("GET", "/v1/webhook_endpoints", WebhookEndpointListParams)
def list_webhook_endpoints(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = ctx.scope.table("webhook_endpoints").values()
    return paginate(ctx, items, params, "/v1/webhook_endpoints")


@route("GET", "/v1/webhook_endpoints/{id}", WebhookEndpointRetrieveParams)
def retrieve_webhook_endpoint(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    endpoint: dict[str, Any] = ctx.require("webhook_endpoints", args["id"], "webhook endpoint")
    return endpoint


@route("POST", "/v1/webhook_endpoints/{id}", WebhookEndpointUpdateParams)
def update_webhook_endpoint(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    endpoint: dict[str, Any] = ctx.require("webhook_endpoints", args["id"], "webhook endpoint")
    _endpoint_fields(endpoint, params)
    return endpoint


@route("DELETE", "/v1/webhook_endpoints/{id}", WebhookEndpointDeleteParams)
def delete_webhook_endpoint(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    ctx.require("webhook_endpoints", args["id"], "webhook endpoint")
    del ctx.scope.table("webhook_endpoints")[args["id"]]
    ctx.state.webhook_secrets.pop(args["id"], None)
    return {"id": args["id"], "object": "webhook_endpoint", "deleted": True}
