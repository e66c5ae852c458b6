"""API keys: 401 without or with a bad key, roles, revocation, the error shape."""

from __future__ import annotations

import secrets

import httpx

from platform_service.auth import audit
from platform_service.auth.keys import revoke_key, split_key
from platform_service.runtime import Runtime
from tests.fixtures.app import KeyMaker


def _assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["type"] and body["error"]["message"]
    return body["error"]


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get("/v1/audit-events"), 401, "missing_api_key")


async def test_unknown_and_malformed_keys_are_401(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    real = await make_key("admin")
    prefix, _ = split_key(real) or ("", "")
    for bad in (f"psk_{prefix}_wrongsecret", "psk_nope_nope", "not-a-key"):
        resp = await client.get("/v1/audit-events", headers={"Authorization": f"Bearer {bad}"})
        _assert_error(resp, 401, "invalid_api_key")
    resp = await client.get("/v1/audit-events", headers={"Authorization": f"Basic {real}"})
    _assert_error(resp, 401, "invalid_api_key")


async def test_revoked_key_is_401(
    client: httpx.AsyncClient, make_key: KeyMaker, runtime: Runtime
) -> None:
    key = await make_key("admin")
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/audit-events", headers=headers)).status_code == 200
    prefix, _ = split_key(key) or ("", "")
    async with runtime.session() as session, session.begin():
        await revoke_key(session, prefix)
    _assert_error(await client.get("/v1/audit-events", headers=headers), 401, "invalid_api_key")


async def test_seller_keys_cannot_use_admin_routes(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    key = await make_key("seller", "acct_someone")
    resp = await client.get("/v1/audit-events", headers={"Authorization": f"Bearer {key}"})
    _assert_error(resp, 403, "admin_required")


async def test_unknown_route_and_method_use_the_error_shape(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    _assert_error(await client.get("/v1/nope", headers=admin_headers), 404, "resource_missing")
    _assert_error(
        await client.delete("/v1/audit-events", headers=admin_headers), 405, "method_not_allowed"
    )


async def test_options_is_authenticated_like_every_method(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyMaker
) -> None:
    # Litestar skips authentication for OPTIONS (and HEAD) by default: the guards then
    # found no caller and answered 500.
    _assert_error(await client.options("/v1/bulk-jobs"), 401, "missing_api_key")
    assert (await client.options("/v1/bulk-jobs", headers=admin_headers)).status_code == 204
    seller = {"Authorization": f"Bearer {await make_key('seller', 'acct_someone')}"}
    options = await client.options("/v1/audit-events", headers=seller)
    assert options.status_code == 403
    assert (await client.options("/health/live")).status_code == 204


async def test_bad_query_parameter_is_422_with_param(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    resp = await client.get("/v1/audit-events?limit=1000", headers=admin_headers)
    err = _assert_error(resp, 422, "parameter_invalid")
    assert err["param"] == "limit"


async def test_unknown_cursor_is_422_on_starting_after(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    resp = await client.get(
        "/v1/audit-events", params={"starting_after": "evt_doesnotexist"}, headers=admin_headers
    )
    err = _assert_error(resp, 422, "parameter_invalid")
    assert err["param"] == "starting_after"


async def test_audit_events_page_with_a_cursor(
    client: httpx.AsyncClient, admin_headers: dict[str, str], runtime: Runtime
) -> None:
    account_id = f"acct_audit{secrets.token_hex(4)}"
    async with runtime.session() as session, session.begin():
        for n in range(3):
            await audit.record(session, actor="test", action=f"test.{n}", account_id=account_id)
    params: dict[str, str | int] = {"account_id": account_id, "limit": 2}
    first = (await client.get("/v1/audit-events", params=params, headers=admin_headers)).json()
    assert [e["action"] for e in first["data"]] == ["test.2", "test.1"]
    assert first["has_more"] is True
    params["starting_after"] = first["data"][-1]["id"]
    rest = (await client.get("/v1/audit-events", params=params, headers=admin_headers)).json()
    assert [e["action"] for e in rest["data"]] == ["test.0"]
    assert rest["has_more"] is False


async def test_health_is_public_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    resp = await client.get("/health/ready")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) >= {"database", "stripe"}


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    resp = await client.get("/schema/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert "/v1/audit-events" in doc["paths"]
    assert doc["paths"]["/v1/audit-events"]["get"]["operationId"] == "ListAuditEvents"
