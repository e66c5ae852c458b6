"""Bulk jobs end to end: the HTTP API with arq on real Redis, real worker processes, the sandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import stripe

from platform_service.app import create_app
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from platform_service.settings import Settings
from tests.fixtures.app import make_settings, serve_app
from tests.fixtures.sandbox import restore_faults
from tests.integration.test_accounts import create

pytestmark = pytest.mark.timeout(240)


class Env:
    def __init__(
        self, url: str, settings: Settings, headers: dict[str, str], sandbox: SandboxServer
    ) -> None:
        self.url = url
        self.settings = settings
        self.headers = headers
        self.sandbox = sandbox
        self.workers: list[subprocess.Popen[bytes]] = []

    def worker_env(self) -> dict[str, str]:
        s = self.settings
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PLATFORM_", "STRIPE_", "DATABASE_", "REDIS_"))
        }
        env.update(
            DATABASE_URL=s.database_url,
            REDIS_URL=s.redis_url or "",
            STRIPE_API_BASE=s.stripe_api_base or "",
            STRIPE_SECRET_KEY=s.stripe_secret_key or "",
            PLATFORM_JOB_QUEUE_NAME=s.job_queue_name,
            PLATFORM_BULK_LEASE_S=str(s.bulk_lease_s),
            PLATFORM_BULK_MAX_ATTEMPTS=str(s.bulk_max_attempts),
            PLATFORM_BULK_BACKOFF_S=str(s.bulk_backoff_s),
            PLATFORM_STRIPE_MAX_NETWORK_RETRIES=str(s.stripe_max_network_retries),
            PLATFORM_RATE_LIMIT_OPS_PER_S=str(s.rate_limit_ops_per_s),
            PLATFORM_INTERACTIVE_SHARE="0",
            PLATFORM_LOG_LEVEL="warning",
        )
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platform_service.cli", "worker"],
            env=self.worker_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.workers.clear()


@pytest.fixture(scope="module")
async def env(
    pg_url: str, redis_url: str, sandbox: SandboxServer, migrated: str
) -> AsyncIterator[Env]:
    import secrets

    settings = make_settings(
        database_url=pg_url,
        redis_url=redis_url,
        stripe_api_base=sandbox.url,
        stripe_secret_key=sandbox.secret_key,
        job_queue_name=f"ps_bulk_{secrets.token_hex(4)}",
        bulk_lease_s=3.0,
        bulk_max_attempts=8,
        bulk_backoff_s=0.05,
        bulk_concurrency=4,
        stripe_max_network_retries=0,
        rate_limit_ops_per_s=2000.0,
        interactive_share=0.0,
    )
    runtime = Runtime.build(settings, role="api")
    app = create_app(settings, runtime=runtime)
    server, task, url = await serve_app(app)
    runtime.public_url = url
    from platform_service.auth.keys import create_key

    async with runtime.session() as session, session.begin():
        _, key = await create_key(session, role="admin")
    e = Env(url, settings, {"Authorization": f"Bearer {key}"}, sandbox)
    yield e
    e.stop_workers()
    server.should_exit = True
    await task
    await runtime.aclose()


@pytest.fixture
def workers(env: Env) -> Iterator[Env]:
    env.start_worker()
    env.start_worker()
    yield env
    env.stop_workers()


@pytest.fixture
async def client(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=env.url, timeout=30) as c:
        yield c


def faults(sandbox: SandboxServer, **body: Any) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=body).raise_for_status()


@pytest.fixture(autouse=True)
def reset_faults(sandbox: SandboxServer) -> Iterator[None]:
    yield
    restore_faults(sandbox)


async def accounts(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[str]:
    return [(await create(client, headers))["id"] for _ in range(n)]


async def submit(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await client.post("/v1/bulk-jobs", json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


async def wait_status(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    job_id: str,
    statuses: set[str],
    timeout: float = 120,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = (await client.get(f"/v1/bulk-jobs/{job_id}", headers=headers)).json()
        if job["status"] in statuses:
            return dict(job)
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} stuck: {job}")


def applied_counts(sandbox: SandboxServer, job_id: str) -> dict[str, int]:
    counts = httpx.get(f"{sandbox.url}/_sandbox/idempotency").json()
    return {k: v for k, v in counts.items() if job_id in k}


def branding_of(sandbox_client: stripe.StripeClient, account_id: str) -> dict[str, Any]:
    return dict(sandbox_client.v1.accounts.retrieve(account_id).to_dict()["settings"]["branding"])


async def test_job_runs_to_completion_on_two_workers(
    workers: Env, client: httpx.AsyncClient, sandbox_client: stripe.StripeClient
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 12)
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#123456"},
    )
    assert job["total"] == 12
    done = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert done["status"] == "succeeded", done
    assert done["succeeded"] == 12
    assert done["pending"] == 0
    for account_id in ids:
        assert branding_of(sandbox_client, account_id)["primary_color"] == "#123456"
    counts = applied_counts(env.sandbox, job["id"])
    assert len(counts) == 12
    assert set(counts.values()) == {1}
    items = (
        await client.get(
            f"/v1/bulk-jobs/{job['id']}/items", params={"limit": 5}, headers=env.headers
        )
    ).json()
    assert len(items["data"]) == 5
    assert items["has_more"] is True
    assert all(
        i["status"] == "succeeded" and i["diff"]["button_color"]["after"] == "#123456"
        for i in items["data"]
    )
    csv_text = (await client.get(f"/v1/bulk-jobs/{job['id']}/items.csv", headers=env.headers)).text
    assert len(csv_text.strip().splitlines()) == 13
    async with client.stream(
        "GET", f"/v1/bulk-jobs/{job['id']}/events", headers=env.headers
    ) as stream:
        body = "".join([chunk async for chunk in stream.aiter_text()])
    assert "event: progress" in body
    assert '"status":"succeeded"' in body
    # The same job again changes nothing: every item is skipped as already applied.
    again = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#123456"},
    )
    rerun = await wait_status(
        client, env.headers, again["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert rerun["skipped"] == 12


async def test_dry_run_writes_nothing(
    workers: Env, client: httpx.AsyncClient, sandbox_client: stripe.StripeClient
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 3)
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"background_color": "#ABCDEF"},
        dry_run=True,
    )
    done = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert done["succeeded"] == 3
    items = (await client.get(f"/v1/bulk-jobs/{job['id']}/items", headers=env.headers)).json()[
        "data"
    ]
    assert all(i["diff"]["background_color"]["after"] == "#ABCDEF" for i in items)
    assert applied_counts(env.sandbox, job["id"]) == {}
    for account_id in ids:
        assert branding_of(sandbox_client, account_id).get("secondary_color") != "#ABCDEF"


async def test_canary_pauses_then_resume_applies_the_rest(
    workers: Env, client: httpx.AsyncClient
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 5)
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#0A2540"},
        canary={"count": 2},
    )
    paused = await wait_status(client, env.headers, job["id"], {"paused", "succeeded", "failed"})
    assert paused["status"] == "paused"
    assert paused["succeeded"] == 2
    assert paused["pending"] == 3
    resumed = await client.post(f"/v1/bulk-jobs/{job['id']}/resume", headers=env.headers)
    assert resumed.status_code == 200, resumed.text
    done = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert done["status"] == "succeeded"
    assert done["succeeded"] == 5


async def test_cancel_stops_the_job(env: Env, client: httpx.AsyncClient) -> None:
    ids = await accounts(client, env.headers, 6)
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#222222"},
    )
    # No worker is running: nothing was applied when the job is cancelled.
    resp = await client.post(f"/v1/bulk-jobs/{job['id']}/cancel", headers=env.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled"
    assert resp.json()["skipped"] == 6
    env.start_worker()
    try:
        await asyncio.sleep(2)
    finally:
        env.stop_workers()
    assert applied_counts(env.sandbox, job["id"]) == {}
    again = await client.post(f"/v1/bulk-jobs/{job['id']}/cancel", headers=env.headers)
    assert again.status_code == 409


async def test_storms_of_429_and_500_are_ridden_out_without_duplicates(
    workers: Env, client: httpx.AsyncClient
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 10)
    faults(
        env.sandbox,
        next=[
            {"kind": "rate_limit", "count": 8, "method": "POST", "path": "/v1/accounts/"},
            {"kind": "500", "count": 6, "method": "POST", "path": "/v1/accounts/"},
            {"kind": "500_after_apply", "count": 3, "method": "POST", "path": "/v1/accounts/"},
        ],
    )
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#333333"},
    )
    done = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    failed = (
        await client.get(
            f"/v1/bulk-jobs/{job['id']}/items", params={"status": "failed"}, headers=env.headers
        )
    ).json()["data"]
    assert done["status"] == "succeeded", [(i["error_code"], i["error_message"]) for i in failed]
    counts = applied_counts(env.sandbox, job["id"])
    assert len(counts) == 10
    assert set(counts.values()) == {1}


async def test_stripes_limits_and_stored_500s_lose_and_duplicate_nothing(
    env: Env, client: httpx.AsyncClient
) -> None:
    """Stripe's test-mode limits, and 500s Stripe replays to every retry with the key:
    after the write (it landed) and before it (only a new key can apply it)."""
    ids = await accounts(client, env.headers, 16)
    faults(
        env.sandbox,
        limits=True,
        next=[
            {"kind": "500_after_apply", "count": 3, "method": "POST", "path": "/v1/accounts/"},
            {"kind": "500_stored", "count": 3, "method": "POST", "path": "/v1/accounts/"},
        ],
    )
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#2B2B2B"},
    )
    # Paced under Stripe's 25/s, as the service is against Stripe itself.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "platform_service.cli", "worker"],
            env=make_limited(env, 20),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        done = await wait_status(
            client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
    assert done["status"] == "succeeded", done
    assert done["succeeded"] == len(ids)
    counts = applied_counts(env.sandbox, job["id"])
    derived = [k for k in counts if k.endswith(":r1")]
    assert len(counts) == len(ids), "an item was lost"
    assert set(counts.values()) == {1}, "an item was applied twice"
    # The stored 500s that changed nothing were applied under derived keys, once each.
    assert len(derived) == 3
    assert not httpx.get(f"{env.sandbox.url}/_sandbox/faults").json()["next"]


async def test_a_permanent_error_fails_the_item_then_retry_failed(
    workers: Env, client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 3)
    # More 500s than the item's attempts: one item fails with Stripe's code, then the retry succeeds.
    faults(
        env.sandbox,
        next=[{"kind": "500", "count": 8, "method": "POST", "path": f"/v1/accounts/{ids[0]}"}],
    )
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#444444"},
    )
    done = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert done["status"] == "partially_failed", done
    failed = (
        await client.get(
            f"/v1/bulk-jobs/{job['id']}/items", params={"status": "failed"}, headers=env.headers
        )
    ).json()["data"]
    assert [i["account_id"] for i in failed] == [ids[0]]
    assert failed[0]["error_code"]
    assert failed[0]["error_message"]
    retried = await client.post(f"/v1/bulk-jobs/{job['id']}/retry-failed", headers=env.headers)
    assert retried.status_code == 200, retried.text
    final = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert final["status"] == "succeeded"
    assert set(applied_counts(env.sandbox, job["id"]).values()) == {1}


async def test_a_deauthorized_account_is_skipped_and_marked_disconnected(
    workers: Env, client: httpx.AsyncClient
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 3)
    httpx.post(f"{env.sandbox.url}/_sandbox/accounts/{ids[1]}/deauthorize").raise_for_status()
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#555555"},
    )
    done = await wait_status(
        client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}
    )
    assert done["status"] == "succeeded"
    assert done["skipped"] == 1
    skipped = (
        await client.get(
            f"/v1/bulk-jobs/{job['id']}/items", params={"status": "skipped"}, headers=env.headers
        )
    ).json()["data"]
    assert skipped[0]["account_id"] == ids[1]
    assert skipped[0]["error_code"] == "account_invalid"
    account = (await client.get(f"/v1/accounts/{ids[1]}", headers=env.headers)).json()
    assert account["onboarding"]["status"] == "disconnected"


async def kill_a_worker_mid_batch(
    env: Env, client: httpx.AsyncClient, count: int, colour: str
) -> dict[str, Any]:
    """Submit a job over `count` accounts, let one worker apply a few items, SIGKILL it."""
    ids = await accounts(client, env.headers, count)
    faults(env.sandbox, latency_ms=150)
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": colour},
    )
    victim = env.start_worker()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = (await client.get(f"/v1/bulk-jobs/{job['id']}", headers=env.headers)).json()
        if state["succeeded"] >= 5:
            break
        await asyncio.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    partial = (await client.get(f"/v1/bulk-jobs/{job['id']}", headers=env.headers)).json()
    assert partial["status"] == "running"
    assert partial["pending"] > 0
    return job


async def finish_on_a_new_worker(
    env: Env, client: httpx.AsyncClient, job: dict[str, Any], count: int
) -> None:
    """A fresh worker completes the job: every item applied, none twice."""
    env.start_worker()
    try:
        done = await wait_status(
            client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}, timeout=150
        )
    finally:
        env.stop_workers()
    assert done["status"] == "succeeded", done
    assert done["succeeded"] == count
    counts = applied_counts(env.sandbox, job["id"])
    assert len(counts) == count, "an item was lost"
    assert set(counts.values()) == {1}, "an item was applied twice"


async def test_sigkill_mid_batch_loses_and_duplicates_nothing(
    env: Env, client: httpx.AsyncClient
) -> None:
    job = await kill_a_worker_mid_batch(env, client, 40, "#666666")
    await finish_on_a_new_worker(env, client, job, 40)


async def test_redis_losing_everything_mid_job_loses_and_duplicates_nothing(
    env: Env, client: httpx.AsyncClient, redis_url: str
) -> None:
    """Redis restarted without persistence: queued lanes, locks and the limiter are gone."""
    from redis.asyncio import Redis

    job = await kill_a_worker_mid_batch(env, client, 30, "#5A5A5A")
    # What a restart of a non-persistent Redis leaves of this deployment: nothing.
    # (Only this deployment's keys: its queue, the jobs in it, its limiter and locks.)
    redis = Redis.from_url(redis_url)
    queue = env.settings.job_queue_name
    job_ids = [j.decode() for j in await redis.zrange(queue, 0, -1)]
    doomed = [k async for k in redis.scan_iter(match=f"{queue}*")]
    for job_id in job_ids:
        doomed += [f"arq:{kind}:{job_id}" for kind in ("job", "in-progress", "retry", "result")]
    await redis.delete(*doomed)
    await redis.aclose()
    await finish_on_a_new_worker(env, client, job, 30)


async def test_two_workers_never_exceed_the_sandbox_rate_limit(
    env: Env, client: httpx.AsyncClient, redis_url: str
) -> None:
    ids = await accounts(client, env.headers, 45)
    rate = 15.0
    # The service's budget a little under Stripe's, as Stripe advises for background
    # work: the margin absorbs arrival jitter on a loaded CI machine.
    limited = make_limited(env, rate - 2)
    faults(env.sandbox, rate_limit=rate)
    mark = len(httpx.get(f"{env.sandbox.url}/_sandbox/requests").json())
    job = await submit(
        client,
        env.headers,
        kind="branding",
        target={"account_ids": ids},
        patch={"button_color": "#777777"},
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "platform_service.cli", "worker"],
            env=limited,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        done = await wait_status(
            client, env.headers, job["id"], {"succeeded", "partially_failed", "failed"}, timeout=120
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
    assert done["status"] == "succeeded"
    log = httpx.get(f"{env.sandbox.url}/_sandbox/requests", params={"since": mark}).json()
    writes = [
        r for r in log if r["method"] == "POST" and r["path"].startswith("/v1/accounts/acct_")
    ]
    # Every request the two workers sent for this job, refused ones included: what our
    # pacing did, not what the sandbox let through. (The sandbox is shared with the
    # session's other runtimes, whose crons - a reconcile listing events - may run now.)
    mine = set(ids)
    ours = [r for r in log if r["stripe_account"] in mine or any(i in r["path"] for i in mine)]
    assert len(ours) >= len(ids)
    times = sorted(r["t"] for r in ours)
    worst = max(sum(1 for t in times[i:] if t - times[i] < 1.0) for i in range(len(times)))
    assert worst <= rate
    assert len([r for r in writes if r["status"] == 429]) <= 1


def make_limited(env: Env, rate: float) -> dict[str, str]:
    limited = env.worker_env()
    limited["PLATFORM_RATE_LIMIT_OPS_PER_S"] = str(rate)
    limited["PLATFORM_JOB_QUEUE_NAME"] = env.settings.job_queue_name
    return limited


async def test_bad_submissions_are_422_and_store_nothing(
    env: Env, client: httpx.AsyncClient
) -> None:
    ids = await accounts(client, env.headers, 1)
    cases = [
        (
            {"kind": "branding", "target": {"account_ids": ids}, "patch": {"button_color": "red"}},
            "patch.button_color",
        ),
        (
            {
                "kind": "branding",
                "target": {"account_ids": [*ids, "acct_missing"]},
                "patch": {"button_color": "#111111"},
            },
            "target.account_ids[1]",
        ),
        (
            {
                "kind": "branding",
                "target": {"account_ids": ids, "filter": {"all": True}},
                "patch": {"button_color": "#111111"},
            },
            "target",
        ),
        (
            {"kind": "branding", "target": {"filter": {}}, "patch": {"button_color": "#111111"}},
            "target.filter",
        ),
        ({"kind": "branding", "target": {"account_ids": ids}, "patch": {}}, "patch"),
        ({"kind": "teleport", "target": {"account_ids": ids}, "patch": {"x": 1}}, "kind"),
    ]
    for body, param in cases:
        resp = await client.post("/v1/bulk-jobs", json=body, headers=env.headers)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["param"] == param, (body, resp.json())


async def test_cli_submits_and_follows_a_job(
    workers: Env, client: httpx.AsyncClient, tmp_path: Any
) -> None:
    env = workers
    ids = await accounts(client, env.headers, 4)
    (tmp_path / "accounts.csv").write_text(
        "account_id,name\n" + "".join(f"{a},shop\n" for a in ids)
    )
    (tmp_path / "patch.json").write_text('{"button_color": "#0F0F0F"}')
    key = env.headers["Authorization"].split()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "platform_service.cli",
        "bulk",
        "branding",
        "--accounts-file",
        str(tmp_path / "accounts.csv"),
        "--patch",
        str(tmp_path / "patch.json"),
        "--api-url",
        env.url,
        "--api-key",
        key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    import json

    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["status"] == "succeeded"
    assert summary["succeeded"] == 4
    assert "4/4" in err.decode()
    bad = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "platform_service.cli",
        "bulk",
        "branding",
        "--accounts-file",
        str(tmp_path / "accounts.csv"),
        "--patch",
        str(tmp_path / "patch.json"),
        "--api-url",
        env.url,
        "--api-key",
        "psk_nope_nope",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, bad_err = await asyncio.wait_for(bad.communicate(), timeout=60)
    assert bad.returncode != 0
    assert "401" in bad_err.decode()
