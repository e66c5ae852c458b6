"""The console script: keys, migrations, and `serve` on the embedded defaults."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from platform_service.auth.models import ApiKey
from platform_service.cli import main
from platform_service.runtime import Runtime
from platform_service.settings import ENV_VARS
from tests.integration.test_accounts import create

CLI = [sys.executable, "-m", "platform_service.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(extra)
    return env


async def invoke(args: list[str], **env: str) -> Result:
    """The CLI in-process, on a thread: the API under test is served by this event loop."""
    clean: dict[str, str | None] = {
        name: None for name in [*ENV_VARS, "PLATFORM_API_URL", "PLATFORM_API_KEY"]
    }
    clean.update(env)
    return await asyncio.to_thread(CliRunner().invoke, main, args, env=clean)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_keys_create_prints_only_the_key_then_list_and_revoke(tmp_path: Path) -> None:
    env = _env(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    assert _run(["db", "upgrade"], env, tmp_path).returncode == 0
    admin = _run(["keys", "create", "--role", "admin"], env, tmp_path)
    assert admin.returncode == 0, admin.stderr
    lines = admin.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("psk_")
    unknown = _run(["keys", "create", "--role", "seller", "--account", "acct_123"], env, tmp_path)
    assert unknown.returncode != 0 and unknown.stdout == ""
    assert unknown.stderr == "Error: no connected account acct_123 in this service's database\n"
    bad = _run(["keys", "create", "--role", "seller"], env, tmp_path)
    assert bad.returncode != 0 and "bound to an account" in bad.stderr
    listed = _run(["keys", "list"], env, tmp_path).stdout
    assert len(listed.splitlines()) == 1 and "acct_123" not in listed
    assert admin.stdout.strip() not in listed  # secrets never shown
    key_id = listed.splitlines()[0].split("\t")[0]
    assert _run(["keys", "revoke", key_id], env, tmp_path).returncode == 0
    assert "revoked" in _run(["keys", "list"], env, tmp_path).stdout.splitlines()[0]


async def test_a_seller_key_needs_an_account_the_service_knows(
    client: httpx.AsyncClient, admin_headers: dict[str, str], runtime: Runtime, migrated: str
) -> None:
    unknown = await invoke(
        ["keys", "create", "--role", "seller", "--account", "acct_doesnotexist"],
        DATABASE_URL=migrated,
    )
    assert unknown.exit_code == 1 and unknown.stdout == ""
    assert unknown.stderr == (
        "Error: no connected account acct_doesnotexist in this service's database\n"
    )
    async with runtime.session() as session:
        written = (
            select(func.count()).select_from(ApiKey).where(ApiKey.account_id == "acct_doesnotexist")
        )
        assert await session.scalar(written) == 0
    missing = await invoke(["keys", "create", "--role", "seller"], DATABASE_URL=migrated)
    assert missing.exit_code == 1 and "bound to an account" in missing.stderr

    account = await create(client, admin_headers)
    made = await invoke(
        ["keys", "create", "--role", "seller", "--account", account["id"]], DATABASE_URL=migrated
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    resp = await client.get(
        f"/v1/accounts/{account['id']}", headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code == 200, resp.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_embedded_defaults_answers_ready_with_the_printed_key(tmp_path: Path) -> None:
    """Nothing configured: SQLite in the working directory, the local sandbox, a printed admin key."""
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=_env(),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        key = None
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while key is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}")
            if line.startswith("admin key: "):
                key = line.split(": ", 1)[1].strip()
        assert key is not None
        headers = {"Authorization": f"Bearer {key}"}
        resp = None
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(
                    f"http://127.0.0.1:{port}/health/ready", headers=headers, timeout=5
                )
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert resp is not None and resp.status_code == 200, resp and resp.text
        assert resp.json()["stripe_mode"] == "local-sandbox"
        assert (tmp_path / "platform_service.sqlite3").exists()
        audit = httpx.get(f"http://127.0.0.1:{port}/v1/audit-events", headers=headers, timeout=5)
        assert audit.status_code == 200
        # The sandbox's demo sellers are imported on the first start.
        accounts: list[dict[str, object]] = []
        while not accounts and time.monotonic() < deadline:
            listed = httpx.get(f"http://127.0.0.1:{port}/v1/accounts", headers=headers, timeout=5)
            accounts = listed.json()["data"]
            time.sleep(0.2)
        assert len(accounts) >= 3
        assert len({a["onboarding"]["status"] for a in accounts}) >= 3  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
