"""The served OpenAPI document is true: Schemathesis drives every operation and checks the answers.

Schemathesis runs as its CLI (`st run`: the examples, coverage, fuzzing and stateful
phases, and reproduction commands for every failure) against the app served over
HTTP, once with an admin key and once with a seller key. The app gets a database of
its own: generated writes (platform defaults, bulk jobs, random accounts) must not
reach the session's database that other tests read.

Nothing is excluded: every operation in the document is exercised (the coverage phase
also sends methods the document does not list), with every check in `CHECKS`. Bounds:
`MAX_EXAMPLES` generated cases per operation, the coverage phase's fixed set of boundary
cases, deterministic generation (the same cases every run, so the suite cannot turn red
by luck), and `RUN_TIMEOUT_S` for each run as a whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import stripe

from platform_service.app import create_app
from platform_service.auth.keys import create_key
from platform_service.db.migrate import upgrade
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from tests.fixtures.app import make_settings, serve_app
from tests.fixtures.services import fresh_database

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = 10
# Generous: on a loaded 2-core CI machine the two runs together take 1 to 3 minutes.
RUN_TIMEOUT_S = 420
PLATFORM_SECRET = "whsec_contract_platform"


@dataclass
class Contract:
    url: str
    admin_key: str
    seller_key: str
    account_id: str
    job_id: str
    import_id: str
    event_id: str


async def _key(runtime: Runtime, role: str, account_id: str | None = None) -> str:
    async with runtime.session() as session, session.begin():
        _, raw = await create_key(session, role=role, account_id=account_id)
    return raw


@pytest.fixture(scope="module")
async def contract() -> AsyncIterator[Contract]:
    """The app on a fresh, migrated database and a sandbox of its own (the session's
    carries every other test's objects and request log, and its faults while they run),
    with one seller account and keys for both roles."""
    with SandboxServer() as sandbox:
        async with fresh_database("ps_contract") as database_url:
            await upgrade(database_url)
            settings = make_settings(
                database_url=database_url,
                stripe_api_base=sandbox.url,
                stripe_secret_key=sandbox.secret_key,
                stripe_max_network_retries=2,
                rate_limit_ops_per_s=2000.0,
                # As deployed: with no secret the webhook endpoints refuse every delivery with a
                # 503 by design, which would hide how they answer what Schemathesis sends.
                stripe_webhook_secrets=(PLATFORM_SECRET,),
                stripe_connect_webhook_secrets=("whsec_contract_connect",),
                stripe_thin_webhook_secrets=("whsec_contract_thin",),
            )
            runtime = Runtime.build(settings, role="api")
            server, task, url = await serve_app(create_app(settings, runtime=runtime))
            runtime.public_url = url
            try:
                admin_key = await _key(runtime, "admin")
                async with httpx.AsyncClient(
                    base_url=url, timeout=30, headers={"Authorization": f"Bearer {admin_key}"}
                ) as client:
                    account_id, job_id, import_id, event_id = await _seed(client)
                seller_key = await _key(runtime, "seller", account_id)
                yield Contract(url, admin_key, seller_key, account_id, job_id, import_id, event_id)
            finally:
                server.should_exit = True
                await task
                await runtime.aclose()


async def _seed(client: httpx.AsyncClient) -> tuple[str, str, str, str]:
    """One of each object a path names, so their operations answer more than 404."""
    resp = await client.post(
        "/v1/accounts",
        json={
            "external_ref": "contract-seller",
            "email": "seller@example.com",
            "country": "US",
            "business_name": "Contract Seller",
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
            "patch": {"button_color": "#0A2540"},
            "dry_run": True,
        },
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    resp = await client.post("/v1/accounts/import")
    assert resp.status_code == 202, resp.text
    import_id = resp.json()["id"]
    event = {
        "id": "evt_contract_1",
        "object": "event",
        "type": "customer.created",
        "livemode": False,
        "created": int(time.time()),
        "api_version": "2025-01-27.acacia",
        "data": {"object": {"id": "cus_contract_1", "object": "customer"}},
    }
    body = json.dumps(event).encode()
    signature = stripe.WebhookSignature.generate_signature_header(
        body.decode(), PLATFORM_SECRET, timestamp=int(time.time())
    )
    resp = await client.post(
        "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )
    assert resp.status_code == 200, resp.text
    return account_id, job_id, import_id, event["id"]


def _config(key: str, parameters: dict[str, str]) -> str:
    """A `schemathesis.toml`: the key, the bounds, the checks and any pinned parameters."""
    lines = [
        "workers = 2",
        "request-timeout = 15",
        # An SSE stream is read for a few events, never to its end.
        "max-stream-events = 3",
        "[headers]",
        f"Authorization = {json.dumps(f'Bearer {key}')}",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "deterministic = true",
        'database = "none"',
        "[cache]",
        "enabled = false",
        "[checks]",
        "enabled = false",
        *(f"{check}.enabled = true" for check in CHECKS),
    ]
    if parameters:
        lines.append("[parameters]")
        lines += [f"{json.dumps(name)} = {json.dumps(value)}" for name, value in parameters.items()]
    return "\n".join(lines) + "\n"


async def _run_schemathesis(url: str, config: str, workdir: Path) -> tuple[int, str, float]:
    (workdir / "schemathesis.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        f"{url}/schema/openapi.json",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return -1, out.decode(errors="replace") + "\n[timed out]", time.monotonic() - started
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), time.monotonic() - started


async def test_the_document_holds_for_admin_and_seller_keys(
    contract: Contract, tmp_path: Path
) -> None:
    """Both runs at once, so that together they stay well inside the time bound.

    Admin: every `{account_id}` is generated, so unknown accounts answer their 404s; the
    job, import and event ids are the seeded ones, so those operations answer for real.
    Seller: its own account in every `{account_id}`; admin routes answer 403.
    """
    runs = {
        "admin": _config(
            contract.admin_key,
            {
                "path.job_id": contract.job_id,
                "path.import_id": contract.import_id,
                "path.event_id": contract.event_id,
            },
        ),
        "seller": _config(contract.seller_key, {"path.account_id": contract.account_id}),
    }
    for name in runs:
        (tmp_path / name).mkdir()
    results = await asyncio.gather(
        *(_run_schemathesis(contract.url, config, tmp_path / name) for name, config in runs.items())
    )
    failed = [
        f"--- {name} key: exit {code} after {took:.0f} s\n{output}"
        for name, (code, output, took) in zip(runs, results, strict=True)
        if code != 0
    ]
    assert not failed, "schemathesis found the document untrue:\n" + "\n".join(failed)
