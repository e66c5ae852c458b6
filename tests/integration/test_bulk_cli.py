"""`platform-service bulk …` against the served API: steering jobs, and errors as one line."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.app import Served
from tests.integration.test_accounts import create
from tests.integration.test_cli import _free_port, invoke


async def paused_job(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """A three-account branding job whose one-account canary is done, waiting for approval."""
    ids = [(await create(client, headers))["id"] for _ in range(3)]
    resp = await client.post(
        "/v1/bulk-jobs",
        json={
            "kind": "branding",
            "target": {"account_ids": ids},
            "patch": {"button_color": "#224466"},
            "canary": {"count": 1},
        },
        headers=headers,
    )
    assert resp.status_code == 202, resp.text
    return await wait_for(client, headers, resp.json()["id"], "paused")


async def wait_for(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, status: str
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"/v1/bulk-jobs/{job_id}", headers=headers)).json()
        if job["status"] == status:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {status}: {job}")


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


def printed_job(stdout: str) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return job


def counts(job: dict[str, Any]) -> tuple[Any, ...]:
    """What a job's printout must agree on with the API (its rate moves with the clock)."""
    return tuple(job[k] for k in ("id", "status", "succeeded", "failed", "skipped", "pending"))


async def test_status_prints_a_paused_job_and_names_the_resume_command(
    served: Served, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    job = await paused_job(client, admin_headers)
    shown = await invoke(
        ["bulk", "status", job["id"], "--api-url", served.url, "--api-key", key_of(admin_headers)]
    )
    assert shown.exit_code == 0, shown.output
    assert counts(printed_job(shown.stdout)) == counts(job)
    assert f"bulk job {job['id']} (branding): " in shown.stderr
    assert f"platform-service bulk resume {job['id']}" in shown.stderr
    assert "POST" not in shown.stderr


async def test_resume_with_watch_applies_the_rest(
    served: Served, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    job = await paused_job(client, admin_headers)
    resumed = await invoke(
        ["bulk", "resume", job["id"], "--watch"],
        PLATFORM_API_URL=served.url,
        PLATFORM_API_KEY=key_of(admin_headers),
    )
    assert resumed.exit_code == 0, resumed.output
    assert printed_job(resumed.stdout)["status"] == "succeeded"
    after = (await client.get(f"/v1/bulk-jobs/{job['id']}", headers=admin_headers)).json()
    assert after["status"] == "succeeded" and after["succeeded"] == 3


async def test_cancel_stops_the_job_and_refusals_are_one_line(
    served: Served, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    job = await paused_job(client, admin_headers)
    env = {"PLATFORM_API_URL": served.url, "PLATFORM_API_KEY": key_of(admin_headers)}
    cancelled = await invoke(["bulk", "cancel", job["id"]], **env)
    assert cancelled.exit_code == 0, cancelled.output
    after = (await client.get(f"/v1/bulk-jobs/{job['id']}", headers=admin_headers)).json()
    assert after["status"] == "cancelled" and after["skipped"] == 2
    assert counts(printed_job(cancelled.stdout)) == counts(after)

    again = await invoke(["bulk", "cancel", job["id"]], **env)
    assert again.exit_code == 1
    assert again.stderr == "Error: 409 job_finished: The job is already cancelled.\n"
    retried = await invoke(["bulk", "retry-failed", job["id"]], **env)
    assert retried.exit_code == 1
    assert retried.stderr.startswith("Error: 409 job_not_failed: Only a finished job with")
    resumed = await invoke(["bulk", "resume", job["id"]], **env)
    assert resumed.stderr.startswith("Error: 409 job_not_paused: ")
    missing = await invoke(["bulk", "status", "bulk_nope"], **env)
    assert missing.exit_code == 1
    assert missing.stderr == "Error: 404 resource_missing: No such bulk job: 'bulk_nope' (id)\n"


async def test_a_refused_key_says_so(served: Served) -> None:
    refused = await invoke(
        ["bulk", "watch", "bulk_any", "--api-url", served.url, "--api-key", "psk_nope_nope"]
    )
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr == (
        "Error: 401 invalid_api_key: the API key was refused (Unknown or revoked API key); "
        "check --api-key or PLATFORM_API_KEY\n"
    )


async def test_submit_pauses_after_the_canary_and_names_the_resume_command(
    served: Served, client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    ids = [(await create(client, admin_headers))["id"] for _ in range(2)]
    (tmp_path / "accounts.txt").write_text("\n".join(ids) + "\n")
    (tmp_path / "patch.json").write_text('{"button_color": "#336699"}')
    env = {"PLATFORM_API_URL": served.url, "PLATFORM_API_KEY": key_of(admin_headers)}
    submitted = await invoke(
        [
            "bulk",
            "branding",
            "--accounts-file",
            str(tmp_path / "accounts.txt"),
            "--patch",
            str(tmp_path / "patch.json"),
            "--canary",
            "1",
        ],
        **env,
    )
    assert submitted.exit_code == 0, submitted.output
    job = printed_job(submitted.stdout)
    assert job["status"] == "paused" and job["succeeded"] == 1
    assert f"approve the rest with: platform-service bulk resume {job['id']}" in submitted.stderr
    assert "POST /v1/bulk-jobs" not in submitted.stderr

    watched = await invoke(["bulk", "watch", job["id"]], **env)
    assert watched.exit_code == 0, watched.output
    assert printed_job(watched.stdout)["status"] == "paused"


async def test_the_api_url_defaults_to_the_configured_host_and_port(
    served: Served, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    job = await paused_job(client, admin_headers)
    port = served.url.rsplit(":", 1)[1]
    shown = await invoke(
        ["bulk", "status", job["id"], "--api-key", key_of(admin_headers)],
        PLATFORM_HOST="127.0.0.1",
        PLATFORM_PORT=port,
    )
    assert shown.exit_code == 0, shown.output
    assert printed_job(shown.stdout)["id"] == job["id"]


async def test_an_unreachable_api_is_one_line_naming_its_url(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    expected = (
        f"Error: cannot reach the API at {url} (connection refused); "
        'is "platform-service serve" running?\n'
    )
    (tmp_path / "accounts.txt").write_text("acct_1\n")
    (tmp_path / "patch.json").write_text('{"button_color": "#336699"}')
    files = [
        "--accounts-file",
        str(tmp_path / "accounts.txt"),
        "--patch",
        str(tmp_path / "patch.json"),
    ]
    commands = [
        ["status", "bulk_x"],
        ["watch", "bulk_x"],
        ["resume", "bulk_x"],
        ["cancel", "bulk_x"],
        ["retry-failed", "bulk_x"],
        ["branding", *files],
    ]
    for command in commands:
        # PLATFORM_PORT alone says where the API is: nothing listens there.
        down = await invoke(["bulk", *command], PLATFORM_PORT=str(port), PLATFORM_API_KEY="psk_x_y")
        assert down.exit_code == 1, (command, down.output)
        assert down.stderr == expected, command
    # An explicit --api-url wins over the configured port.
    other = _free_port()
    down = await invoke(
        ["bulk", "status", "bulk_x", "--api-url", f"http://127.0.0.1:{other}/"],
        PLATFORM_PORT=str(port),
        PLATFORM_API_KEY="psk_x_y",
    )
    assert f"cannot reach the API at http://127.0.0.1:{other} (" in down.stderr
