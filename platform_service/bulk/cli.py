"""`platform-service bulk branding|portal-settings`: submit a job to the API and follow it."""

from __future__ import annotations

import base64
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import click
import httpx

TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled"}


def read_account_ids(path: Path) -> list[str]:
    """One id per line, or a CSV whose first column (or `account_id` column) holds them."""
    with path.open(newline="") as fh:
        rows = [row for row in csv.reader(fh) if row and row[0].strip()]
    if not rows:
        raise click.BadParameter(f"{path} lists no account", param_hint="--accounts-file")
    column = 0
    header = [c.strip().lower() for c in rows[0]]
    if "account_id" in header:
        column = header.index("account_id")
        rows = rows[1:]
    elif not rows[0][0].strip().startswith("acct_"):
        rows = rows[1:]
    return [row[column].strip() for row in rows if len(row) > column and row[column].strip()]


def render(job: dict[str, Any], width: int = 30) -> str:
    total = max(int(job["total"]), 1)
    done = int(job["succeeded"]) + int(job["failed"]) + int(job["skipped"])
    filled = int(width * done / total)
    eta = f" eta {job['eta_s']:.0f}s" if job.get("eta_s") else ""
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {done}/{job['total']} "
        f"ok {job['succeeded']} failed {job['failed']} skipped {job['skipped']} "
        f"{job['rate_per_s']:.1f}/s{eta} {job['status']}"
    )


def follow(
    client: httpx.Client, job_id: str, out: TextIO, *, interval: float = 1.0, log_every: float = 5.0
) -> dict[str, Any]:
    """Poll until the job ends: a live bar on a terminal, a log line every few seconds otherwise."""
    tty = out.isatty()
    last_log = 0.0
    while True:
        resp = client.get(f"/v1/bulk-jobs/{job_id}")
        resp.raise_for_status()
        job: dict[str, Any] = resp.json()
        now = time.monotonic()
        if tty:
            out.write("\r" + render(job))
            out.flush()
        elif now - last_log >= log_every or job["status"] in TERMINAL | {"paused"}:
            out.write(render(job) + "\n")
            out.flush()
            last_log = now
        if job["status"] in TERMINAL or job["status"] == "paused":
            if tty:
                out.write("\n")
            return job
        time.sleep(interval)


def submit_and_follow(
    *,
    kind: str,
    api_url: str,
    api_key: str,
    accounts_file: Path,
    patch_file: Path,
    dry_run: bool,
    canary: int | None,
    images: dict[str, Path],
) -> int:
    try:
        patch = json.loads(patch_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"cannot read {patch_file}: {exc}", param_hint="--patch") from exc
    body: dict[str, Any] = {
        "kind": kind,
        "target": {"account_ids": read_account_ids(accounts_file)},
        "patch": patch,
        "dry_run": dry_run,
    }
    if canary:
        body["canary"] = {"count": canary}
    if images:
        body["files"] = {
            name: base64.b64encode(path.read_bytes()).decode() for name, path in images.items()
        }
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60
    ) as client:
        resp = client.post("/v1/bulk-jobs", json=body)
        if resp.status_code != 202:
            error = (
                resp.json().get("error", {})
                if resp.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            where = f" ({error['param']})" if error.get("param") else ""
            raise click.ClickException(
                f"{resp.status_code}: {error.get('message', resp.text)}{where}"
            )
        job = resp.json()
        click.echo(
            f"bulk job {job['id']}: {job['total']} accounts{' (dry run)' if dry_run else ''}",
            err=True,
        )
        final = follow(client, job["id"], sys.stderr)
    click.echo(
        json.dumps(
            {k: final[k] for k in ("id", "status", "succeeded", "failed", "skipped", "pending")}
        )
    )
    if final["status"] == "paused":
        click.echo(
            f"canary applied; approve with POST /v1/bulk-jobs/{final['id']}/resume", err=True
        )
        return 0
    return 0 if final["status"] == "succeeded" else 1
