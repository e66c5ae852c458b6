"""Logs are JSON lines with a request id, carry no secret, and requests are counted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from platform_service.jobs.queue import InProcessQueue
from platform_service.observability import redact
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from tests.integration.test_accounts import create, sandbox_requests


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the process logs during the test, rendered as in production."""
    root = logging.getLogger()
    formatter = next(h.formatter for h in root.handlers if h.formatter is not None)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


def test_redact_hides_every_secret_shape() -> None:
    line = (
        "key psk_ab12cd34_s3cretvalue-x sk_test_51Abc whsec_abc123 "
        "GET /accounts/acct_1/onboarding/refresh?token=tok_secret&x=1 "
        "https://billing.stripe.com/p/session/test_YWNjdF8x"
    )
    clean = redact(line)
    for secret in ("s3cretvalue", "51Abc", "abc123", "tok_secret", "YWNjdF8x"):
        assert secret not in clean
    assert "acct_1" in clean  # ids are not secrets


async def test_requests_log_json_with_their_id_and_no_refresh_token(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    log_lines: io.StringIO,
) -> None:
    account = await create(client, admin_headers)
    mark = len(sandbox_requests(sandbox))
    await client.post(
        f"/v1/accounts/{account['id']}/onboarding-links",
        json={"return_url": "https://platform.example/done"},
        headers=admin_headers,
    )
    link = next(r for r in sandbox_requests(sandbox, mark) if r["path"] == "/v1/account_links")
    refresh = urlsplit(link["params"]["refresh_url"])
    token = parse_qs(refresh.query)["token"][0]
    resp = await client.get(
        f"{refresh.path}?{refresh.query}", headers={"X-Request-Id": "trace-refresh-1"}
    )
    assert resp.status_code == 303
    assert resp.headers["x-request-id"] == "trace-refresh-1"

    records = [json.loads(line) for line in log_lines.getvalue().splitlines() if line]
    access = [r for r in records if r.get("logger") == "platform_service.access"]
    mine = [r for r in access if r.get("request_id") == "trace-refresh-1"]
    assert mine, access
    assert mine[0]["status"] == 303
    assert mine[0]["route"] == "/accounts/{account_id}/onboarding/refresh"
    assert token not in log_lines.getvalue()
    # A request without an id gets one of ours, echoed back.
    other = await client.get("/health/live")
    assert other.headers["x-request-id"].startswith("req_")


async def test_metrics_count_requests_by_route_and_status(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    metrics = (await client.get("/metrics")).text
    assert 'platform_http_requests_total{method="GET",route="/health/live",status="200"}' in metrics
    assert "platform_http_request_duration_seconds_bucket" in metrics


async def test_job_lines_carry_the_job_id_and_the_request_that_queued_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    runtime: Runtime,
    log_lines: io.StringIO,
) -> None:
    await create(client, {**admin_headers, "X-Request-Id": "trace-job-1"})
    queue = runtime.queue
    assert isinstance(queue, InProcessQueue)
    await queue.drain()
    records = [json.loads(line) for line in log_lines.getvalue().splitlines() if line]
    from_jobs = [r for r in records if r.get("job_id") and r.get("request_id") == "trace-job-1"]
    assert from_jobs, [r for r in records if r.get("request_id") == "trace-job-1"]
    assert {r["job"] for r in from_jobs} >= {"ensure_portal_configuration"}


async def test_a_refused_key_is_logged_and_counted_with_its_401(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    resp = await client.get("/v1/audit-events", headers={"X-Request-Id": "trace-refused-1"})
    assert resp.status_code == 401
    records = [json.loads(line) for line in log_lines.getvalue().splitlines() if line]
    access = [r for r in records if r.get("request_id") == "trace-refused-1" and "status" in r]
    assert [r["status"] for r in access] == [401]
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/audit-events",status="401"' in metrics
