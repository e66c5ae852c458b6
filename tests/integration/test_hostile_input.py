"""Hostile input through the HTTP API: a 4xx in the error shape, never a 500, and nothing written.

Every case runs on PostgreSQL and on SQLite (the embedded default): their
limits differ (NUL in text, integer range), the answers must not.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from platform_service.inputs import BIGINT_MAX, INTEGER_MAX, MAX_JSON_DEPTH
from platform_service.jobs.queue import InProcessQueue
from platform_service.sandbox.server import SandboxServer
from tests.fixtures.app import served_on

CONTROL_MESSAGE = "control characters"


@dataclass
class Api:
    client: httpx.AsyncClient
    account_id: str
    job_id: str

    async def state(self) -> dict[str, Any]:
        """Everything a refused request might have written, as the API shows it."""
        account = self.account_id
        paths = (
            f"/v1/accounts/{account}",
            f"/v1/accounts/{account}/branding",
            f"/v1/accounts/{account}/portal-settings",
            f"/v1/accounts/{account}/portal-settings/versions",
            "/v1/platform/portal-settings",
            "/v1/accounts?limit=100",
            "/v1/audit-events?limit=100",
        )
        seen: dict[str, Any] = {}
        for path in paths:
            resp = await self.client.get(path)
            assert resp.status_code == 200, (path, resp.text)
            seen[path] = resp.json()
        return seen


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
async def api(
    request: pytest.FixtureRequest,
    migrated: str,
    sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    """The service on one database, with an account and a (dry-run) bulk job whose items exist."""
    async with (
        served_on(
            request.param,
            sandbox,
            postgres_url=migrated,
            sqlite_dir=tmp_path_factory.mktemp("hostile"),
        ) as (runtime, url, headers),
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client,
    ):
        ref = f"hostile-{secrets.token_hex(4)}"
        resp = await client.post(
            "/v1/accounts",
            json={
                "external_ref": ref,
                "email": f"{ref}@example.com",
                "country": "FR",
                "business_name": "Hostile Shop",
                "charge_model": "direct",
            },
        )
        assert resp.status_code == 201, resp.text
        account_id = resp.json()["id"]
        resp = await client.post(
            "/v1/bulk-jobs",
            json={
                "kind": "branding",
                "target": {"account_ids": [account_id]},
                "patch": {"button_color": "#123456"},
                "dry_run": True,
            },
        )
        assert resp.status_code == 202, resp.text
        # Let the jobs these started (the first portal sync, the dry run) finish, so
        # that the state a test compares moves only if the test's request wrote.
        await runtime.settle()
        assert isinstance(runtime.queue, InProcessQueue)
        await runtime.queue.drain()
        yield Api(client, account_id, resp.json()["id"])


def assert_error(resp: httpx.Response, status: int, code: str, param: str | None = None) -> str:
    """The response is the API's error shape with this status, code and param; its message."""
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) <= {"type", "code", "message", "param"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error.get("param") == param
    return str(error["message"])


# ------------------------------------------------------------------ integers past a column's range


@pytest.mark.parametrize("version", [INTEGER_MAX + 1, BIGINT_MAX + 1, 99999999999999999999999])
async def test_version_past_the_column_range_is_a_422_and_restores_nothing(
    api: Api, version: int
) -> None:
    before = await api.state()
    resp = await api.client.post(
        f"/v1/accounts/{api.account_id}/portal-settings/versions/{version}/restore"
    )
    assert_error(resp, 422, "parameter_invalid", "version")
    assert await api.state() == before


async def test_largest_version_the_column_holds_is_just_missing(api: Api) -> None:
    resp = await api.client.post(
        f"/v1/accounts/{api.account_id}/portal-settings/versions/{INTEGER_MAX}/restore"
    )
    assert_error(resp, 404, "resource_missing", "version")


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/v1/accounts/{account}/portal-settings/versions", INTEGER_MAX + 1),
        ("/v1/accounts/{account}/portal-settings/versions", 99999999999999999999999),
        ("/v1/bulk-jobs/{job}/items", BIGINT_MAX + 1),
        ("/v1/bulk-jobs/{job}/items", 99999999999999999999999),
    ],
)
async def test_integer_cursor_past_the_column_range_is_a_422(
    api: Api, path: str, cursor: int
) -> None:
    url = path.format(account=api.account_id, job=api.job_id)
    resp = await api.client.get(url, params={"starting_after": str(cursor)})
    assert_error(resp, 422, "parameter_invalid", "starting_after")


async def test_largest_item_cursor_the_column_holds_pages_normally(api: Api) -> None:
    resp = await api.client.get(
        f"/v1/bulk-jobs/{api.job_id}/items", params={"starting_after": str(BIGINT_MAX)}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == []


# ------------------------------------------------------------------ deeply nested JSON

BODY_ROUTES = [
    ("POST", "/v1/accounts"),
    ("PATCH", "/v1/accounts/{account}"),
    ("PATCH", "/v1/accounts/{account}/branding"),
    ("PATCH", "/v1/accounts/{account}/portal-settings"),
    ("PUT", "/v1/platform/portal-settings"),
    ("POST", "/v1/bulk-jobs"),
]
DEEP_BODIES = {
    "arrays": "[" * 1000 + "]" * 1000,
    "objects": '{"a":' * 1000 + "1" + "}" * 1000,
    # Decodable, but past the limit, under a field the schema takes as free-form.
    "just_past_the_limit": '{"metadata":' + '{"a":' * MAX_JSON_DEPTH + '"x"' + "}" * 65,
}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
async def test_deeply_nested_json_is_a_400_and_writes_nothing(
    api: Api, method: str, path: str, shape: str
) -> None:
    before = await api.state()
    resp = await api.client.request(
        method,
        path.format(account=api.account_id),
        content=DEEP_BODIES[shape],
        headers={"Content-Type": "application/json"},
    )
    assert "nested too deeply" in assert_error(resp, 400, "invalid_request")
    assert await api.state() == before


async def test_json_nested_to_the_limit_is_read(api: Api) -> None:
    # Exactly the limit; the "[" in the string makes the check walk it.
    body = '{"metadata":' + '{"a":' * (MAX_JSON_DEPTH - 1) + '"x["' + "}" * MAX_JSON_DEPTH
    resp = await api.client.patch(
        f"/v1/accounts/{api.account_id}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    # Read, then refused by the schema (metadata values are strings): not a 400.
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["param"].startswith("metadata")


# ------------------------------------------------------------------ control characters in text


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("PATCH", "/v1/accounts/{account}", {"business_name": "Shop\u0000"}, "business_name"),
        ("PATCH", "/v1/accounts/{account}", {"business_name": "Shop\u001b[31m"}, "business_name"),
        ("PATCH", "/v1/accounts/{account}", {"metadata": {"note": "a\u0008b"}}, "metadata.note"),
        ("PATCH", "/v1/accounts/{account}", {"metadata": {"no\u0000te": "x"}}, "metadata"),
        ("PATCH", "/v1/accounts/{account}/branding", {"display_name": "\u0000"}, "display_name"),
        (
            "PATCH",
            "/v1/accounts/{account}/portal-settings",
            {"customisation": {"headline": "Manage\u000cyour plan"}},
            "customisation.headline",
        ),
        (
            "POST",
            "/v1/accounts",
            {
                "external_ref": "nul\u0000ref",
                "email": "nul@example.com",
                "country": "FR",
                "business_name": "Nul",
                "charge_model": "direct",
            },
            "external_ref",
        ),
        (
            "POST",
            "/v1/bulk-jobs",
            {
                "kind": "branding",
                "target": {"filter": {"all": True}},
                "patch": {"display_name": "x\u0000"},
            },
            "patch.display_name",
        ),
    ],
)
async def test_control_characters_in_body_text_are_a_422_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], param: str
) -> None:
    before = await api.state()
    resp = await api.client.request(method, path.format(account=api.account_id), json=body)
    assert CONTROL_MESSAGE in assert_error(resp, 422, "parameter_invalid", param)
    assert await api.state() == before


async def test_tab_and_newline_are_text(api: Api) -> None:
    resp = await api.client.patch(
        f"/v1/accounts/{api.account_id}", json={"metadata": {"note": "line one\n\tline two\r\n"}}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["metadata"] == {"note": "line one\n\tline two\r\n"}


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/accounts?q=%00", "q"),
        ("/v1/accounts?q=shop%01", "q"),
        ("/v1/accounts?starting_after=acct_%00", "starting_after"),
        ("/v1/accounts/{account}%00", "account_id"),
        ("/v1/bulk-jobs/{job}%00/items", "job_id"),
    ],
)
async def test_control_characters_in_parameters_are_a_422_naming_them(
    api: Api, path: str, param: str
) -> None:
    resp = await api.client.get(path.format(account=api.account_id, job=api.job_id))
    assert CONTROL_MESSAGE in assert_error(resp, 422, "parameter_invalid", param)


async def test_a_nul_in_a_signed_in_key_is_an_unknown_key(api: Api) -> None:
    resp = await api.client.post("/ui/login", data={"key": "psk_\u0000_secret"})
    assert resp.status_code == 401


# ------------------------------------------------------------------ bodies that can't be read


@pytest.mark.parametrize(
    "content",
    [
        b'{"business_name": "\xff"}',
        b'{"business_name": "\xed\xa0\x80"}',  # an encoded surrogate
        b'{"\xc3": "x"}',
    ],
)
async def test_a_body_that_is_not_utf8_is_a_400(api: Api, content: bytes) -> None:
    before = await api.state()
    resp = await api.client.patch(
        f"/v1/accounts/{api.account_id}",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert_error(resp, 400, "invalid_request")
    assert await api.state() == before


@pytest.mark.parametrize("content_type", ["application/json", None])
async def test_an_empty_body_where_one_is_needed_is_a_400(
    api: Api, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = await api.client.post("/v1/accounts", content=b"", headers=headers)
    assert "body is required" in assert_error(resp, 400, "invalid_request")


async def test_a_null_body_is_a_422(api: Api) -> None:
    before = await api.state()
    resp = await api.client.patch(
        f"/v1/accounts/{api.account_id}",
        content=b"null",
        headers={"Content-Type": "application/json"},
    )
    assert_error(resp, 422, "parameter_invalid")
    assert await api.state() == before


async def test_a_form_body_on_a_json_route_is_a_415_and_writes_nothing(api: Api) -> None:
    before = await api.state()
    resp = await api.client.patch(
        f"/v1/accounts/{api.account_id}", data={"business_name": "Form Shop"}
    )
    message = assert_error(resp, 415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in message
    assert await api.state() == before


@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_json_sent_as_another_media_type_is_a_415(api: Api, content_type: str | None) -> None:
    before = await api.state()
    headers = {"Content-Type": content_type} if content_type else {}
    resp = await api.client.patch(
        f"/v1/accounts/{api.account_id}", content=b'{"business_name": "Plain"}', headers=headers
    )
    assert_error(resp, 415, "unsupported_media_type")
    assert await api.state() == before


async def test_json_media_types_with_parameters_or_a_suffix_are_json(api: Api) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        resp = await api.client.patch(
            f"/v1/accounts/{api.account_id}",
            content=b'{"business_name": "Typed Shop"}',
            headers={"Content-Type": content_type},
        )
        assert resp.status_code == 200, resp.text


async def test_a_huge_unknown_cursor_is_not_echoed_back_whole(api: Api) -> None:
    cursor = "acct_" + "x" * 30_000
    resp = await api.client.get("/v1/accounts", params={"starting_after": cursor})
    assert_error(resp, 422, "parameter_invalid", "starting_after")
    message = resp.json()["error"]["message"]
    assert len(message) < 200
    assert "30005 characters" in message
