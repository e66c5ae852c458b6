"""`platform-service bulk …`: submit, follow and steer bulk jobs through the HTTP API."""

from __future__ import annotations

import base64
import csv
import json
import re
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import quote

import click
import httpx

TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled"}
# Where following a job stops: its end, or a canary waiting for approval.
SETTLED = TERMINAL | {"paused"}


class Api:
    """The HTTP API as the CLI sees it: any failure becomes one `click.ClickException` line."""

    def __init__(self, api_url: str, api_key: str, *, timeout: float = 60) -> None:
        self.url = api_url.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
            )
        except httpx.InvalidURL as exc:
            raise click.BadParameter(f"{api_url!r}: {exc}", param_hint="--api-url") from exc

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise click.ClickException(
                f"cannot reach the API at {self.url} ({_reason(exc)}); "
                'is "platform-service serve" running?'
            ) from exc
        if not resp.is_success:
            raise click.ClickException(error_line(resp))
        try:
            answer: dict[str, Any] = resp.json()
        except ValueError as exc:
            raise click.ClickException(
                f"{resp.status_code}: the answer from {self.url}{path} is not JSON; "
                "is --api-url the platform_service API?"
            ) from exc
        return answer


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    # "[Errno 111] Connection refused" reads better as "connection refused".
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)) or type(exc).__name__
    return text[0].lower() + text[1:]


def error_line(resp: httpx.Response) -> str:
    """`404 resource_missing: No such bulk job: 'x' (id)`, from the API's error shape."""
    error: dict[str, Any] = {}
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]
    message = str(error.get("message") or resp.text.strip()[:200] or resp.reason_phrase)
    code = f" {error['code']}" if error.get("code") else ""
    if resp.status_code == 401:
        return (
            f"401{code}: the API key was refused ({message.rstrip('.')}); "
            "check --api-key or PLATFORM_API_KEY"
        )
    where = f" ({error['param']})" if error.get("param") else ""
    return f"{resp.status_code}{code}: {message}{where}"


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
    api: Api, job_id: str, out: TextIO, *, interval: float = 1.0, log_every: float = 5.0
) -> dict[str, Any]:
    """Poll until the job ends: a live bar on a terminal, a log line every few seconds otherwise."""
    tty = out.isatty()
    last_log = 0.0
    while True:
        job = api.get(job_path(job_id))
        now = time.monotonic()
        if tty:
            out.write("\r" + render(job))
            out.flush()
        elif now - last_log >= log_every or job["status"] in SETTLED:
            out.write(render(job) + "\n")
            out.flush()
            last_log = now
        if job["status"] in SETTLED:
            if tty:
                out.write("\n")
            return job
        time.sleep(interval)


def show(job: dict[str, Any], *, summary: bool = True) -> None:
    """The job for scripts (JSON on stdout) and for people (stderr), with what to do next."""
    if summary:
        dry = ", dry run" if job.get("dry_run") else ""
        click.echo(f"bulk job {job['id']} ({job['kind']}{dry}): {render(job)}", err=True)
    click.echo(json.dumps(job))
    hint = next_step(job)
    if hint:
        click.echo(hint, err=True)


def next_step(job: dict[str, Any]) -> str | None:
    job_id, status = job["id"], job["status"]
    if status == "paused":
        return (
            f"canary done ({job['succeeded']} ok, {job['failed']} failed); check it, then "
            f"approve the rest with: platform-service bulk resume {job_id}  "
            f"(or stop with: platform-service bulk cancel {job_id})"
        )
    if status in ("partially_failed", "failed") and job["failed"]:
        return (
            f"{job['failed']} failed (GET /v1/bulk-jobs/{job_id}/items?status=failed); "
            f"retry them with: platform-service bulk retry-failed {job_id}"
        )
    if status not in TERMINAL:
        return f"follow it with: platform-service bulk watch {job_id}"
    return None


def exit_code(job: dict[str, Any], ok: frozenset[str] = frozenset({"succeeded", "paused"})) -> int:
    return 0 if job["status"] in ok else 1


def job_path(job_id: str, action: str = "") -> str:
    path = f"/v1/bulk-jobs/{quote(job_id, safe='')}"
    return f"{path}/{action}" if action else path


def status(*, api_url: str, api_key: str, job_id: str) -> None:
    with Api(api_url, api_key) as api:
        show(api.get(job_path(job_id)))


def watch(*, api_url: str, api_key: str, job_id: str) -> int:
    """Follow a job until it ends or pauses, then show it."""
    with Api(api_url, api_key) as api:
        job = follow(api, job_id, sys.stderr)
    show(job, summary=False)
    return exit_code(job)


def act(*, api_url: str, api_key: str, job_id: str, action: str, then_watch: bool) -> int:
    """POST one of the job's actions (`resume`, `cancel`, `retry-failed`) and show the result."""
    with Api(api_url, api_key) as api:
        job = api.post(job_path(job_id, action))
        click.echo(f"bulk job {job['id']}: {action} accepted, now {job['status']}", err=True)
        if then_watch and job["status"] not in SETTLED:
            job = follow(api, job_id, sys.stderr)
    show(job, summary=False)
    if action == "cancel":
        return exit_code(job, frozenset({"cancelled"}))
    return exit_code(job) if then_watch else 0


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
    with Api(api_url, api_key) as api:
        job = api.post("/v1/bulk-jobs", body)
        click.echo(
            f"bulk job {job['id']}: {job['total']} accounts{' (dry run)' if dry_run else ''}",
            err=True,
        )
        final = follow(api, job["id"], sys.stderr)
    show(final, summary=False)
    return exit_code(final)
