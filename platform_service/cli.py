"""`platform-service serve|worker|sandbox|db|keys …`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
from pathlib import Path
from typing import Any

import click

from platform_service.sandbox.faults import STRIPE_CONCURRENCY, STRIPE_RATE
from platform_service.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.version_option(package_name="platform-service")
def main() -> None:
    """platform_service: connected accounts, branding and customer portals for a Stripe Connect platform."""


@main.command()
@click.option("--host", default=None, help="Bind address (PLATFORM_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (PLATFORM_PORT, default 8000).")
@click.option(
    "--admin-key/--no-admin-key",
    default=None,
    help="Create and print an admin key at start (default: on with the embedded sandbox).",
)
def serve(host: str | None, port: int | None, admin_key: bool | None) -> None:
    """Run the HTTP API (and, without REDIS_URL, the jobs in-process)."""
    import uvicorn

    from platform_service.app import create_app
    from platform_service.auth.keys import create_key
    from platform_service.db.migrate import upgrade
    from platform_service.runtime import Runtime

    settings = _settings()
    host = host or settings.host
    port = port if port is not None else settings.port
    public_url = settings.public_url or f"http://{host}:{port}"
    if settings.is_sqlite:
        # The embedded default migrates itself; PostgreSQL deployments run `db upgrade`.
        asyncio.run(upgrade(settings.database_url))
    runtime = Runtime.build(settings, role="api", public_url=public_url)
    show_key = admin_key if admin_key is not None else runtime.sandbox is not None

    async def _make_key() -> str:
        async with runtime.session() as session, session.begin():
            _, raw = await create_key(session, role="admin", name="serve")
        return raw

    app = create_app(settings, runtime=runtime)
    key = asyncio.run(_make_key()) if show_key else None
    click.echo(
        f"platform_service listening on {public_url}  (API docs: {public_url}/schema)", err=True
    )
    if runtime.sandbox is not None:
        click.echo(f"Stripe: local sandbox at {runtime.sandbox.url} (not Stripe)", err=True)
    if key:
        click.echo(f"admin key: {key}", err=True)
        click.echo(
            f'try: curl -H "Authorization: Bearer {key}" {public_url}/health/ready', err=True
        )
    try:
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level)
    finally:
        asyncio.run(runtime.aclose())


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option(
    "--max-jobs", default=10, show_default=True, help="Jobs run concurrently per process."
)
def worker(burst: bool, max_jobs: int) -> None:
    """Run an arq worker for the background and bulk jobs (needs REDIS_URL)."""
    from platform_service.jobs.worker import build_worker

    settings = _settings()
    with contextlib.suppress(ImportError):
        # uvloop (shipped with uvicorn's extras) keeps the worker's event loop lag low,
        # which is what lets paced Stripe calls arrive evenly.
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        w = build_worker(settings, burst=burst, max_jobs=max_jobs)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    w.run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=12111, show_default=True, type=int)
@click.option(
    "--limits/--no-limits",
    default=True,
    show_default=True,
    help="Stripe's test-mode limits: 25 requests/s, 25/s per endpoint, Files 20/s, 5 account "
    "creations/s, 20 in flight.",
)
@click.option(
    "--rate-limit",
    type=float,
    default=STRIPE_RATE,
    show_default=True,
    help="Global requests per second.",
)
@click.option(
    "--concurrency-limit",
    type=int,
    default=STRIPE_CONCURRENCY,
    show_default=True,
    help="Requests in flight.",
)
@click.option("--latency-ms", type=int, default=0, show_default=True)
@click.option(
    "--fail-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of requests answered 500.",
)
@click.option(
    "--webhook", "webhooks", multiple=True, help="URL=SECRET, repeatable; add ?connect for Connect."
)
@click.option(
    "--event-destination",
    "event_destinations",
    multiple=True,
    help="URL=SECRET for thin (Accounts v2) event notifications, repeatable.",
)
@click.option("--demo/--no-demo", default=False, help="Seed demo accounts, products and customers.")
def sandbox(
    host: str,
    port: int,
    limits: bool,
    rate_limit: float,
    concurrency_limit: int,
    latency_ms: int,
    fail_rate: float,
    webhooks: tuple[str, ...],
    event_destinations: tuple[str, ...],
    demo: bool,
) -> None:
    """Run the local Stripe sandbox standalone (a stand-in for Stripe's API, never Stripe)."""
    from platform_service.sandbox.server import SandboxConfig, run_standalone

    hooks: list[tuple[str, str, bool]] = []
    for spec in webhooks:
        url, secret = _url_and_secret(spec, "--webhook")
        connect = url.endswith("?connect") or "/connect" in url
        hooks.append((url.removesuffix("?connect"), secret, connect))
    destinations = [_url_and_secret(spec, "--event-destination") for spec in event_destinations]
    run_standalone(
        SandboxConfig(
            host=host,
            port=port,
            limits=limits,
            rate_limit=rate_limit,
            concurrency_limit=concurrency_limit,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            webhooks=hooks,
            event_destinations=destinations,
            seed_demo=demo,
        )
    )


def _url_and_secret(spec: str, option: str) -> tuple[str, str]:
    url, sep, secret = spec.rpartition("=")
    if not sep or not url or not secret:
        raise click.BadParameter(f"expected URL=SECRET, got {spec!r}", param_hint=option)
    return url, secret


@main.command()
@click.option(
    "--since",
    default=None,
    help="ISO 8601 time to list Stripe events from (default: the last run minus a margin).",
)
@click.option(
    "--max-accounts",
    default=None,
    type=int,
    help="Connected accounts whose events are listed this run (default 200, rotating).",
)
@click.option(
    "--sync-accounts/--no-sync-accounts",
    default=True,
    show_default=True,
    help="Also refetch accounts whose last sync is older than PLATFORM_RECONCILE_STALE_AFTER_S.",
)
def reconcile(since: str | None, max_accounts: int | None, sync_accounts: bool) -> None:
    """Repair state missed webhooks left wrong: pull missed events, refetch stale accounts."""
    import json

    from platform_service.jobs.catalog import CRONS, JOBS
    from platform_service.jobs.queue import InProcessQueue
    from platform_service.runtime import Runtime
    from platform_service.webhooks import reconcile as rec

    settings = _settings()
    try:
        start = rec.parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc

    async def run() -> dict[str, Any]:
        runtime = Runtime.build(settings, role="cli")
        try:
            queue = await runtime.start_queue(JOBS, CRONS)
            report = await rec.reconcile(
                runtime.session_maker,
                runtime.gateway,
                runtime.after_commit,
                settings,
                since=start,
                max_accounts=max_accounts or rec.MAX_ACCOUNTS_PER_RUN,
                sync_accounts=sync_accounts,
            )
            if isinstance(queue, InProcessQueue):
                # Without Redis the events' jobs run here: finish them before exiting.
                await queue.drain(timeout=600)
            return report.as_dict()
        finally:
            await runtime.aclose()

    click.echo(json.dumps(asyncio.run(run())))


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from platform_service.db.migrate import upgrade

    settings = _settings()
    asyncio.run(upgrade(settings.database_url, revision))
    click.echo(f"database at {revision}", err=True)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (e.g. `base`)."""
    from platform_service.db.migrate import downgrade

    asyncio.run(downgrade(_settings().database_url, revision))
    click.echo(f"database at {revision}", err=True)


@main.group()
def keys() -> None:
    """API keys: create, list, revoke."""


async def _with_session(fn: Any) -> Any:
    from platform_service.db.engine import create_engine, create_session_maker

    engine = create_engine(_settings().database_url)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


@keys.command("create")
@click.option("--role", type=click.Choice(["admin", "seller"]), required=True)
@click.option(
    "--account",
    "account_id",
    default=None,
    help="The connected account (acct_…) a seller key is bound to.",
)
@click.option("--name", default=None, help="A label to recognise the key by.")
def keys_create(role: str, account_id: str | None, name: str | None) -> None:
    """Create a key and print it: the only line on stdout, shown once."""
    from sqlalchemy import select

    from platform_service.accounts.models import ConnectedAccount
    from platform_service.auth.keys import KeyError_, create_key

    async def run(session: Any) -> str:
        if role == "seller" and account_id:
            known = await session.scalar(
                select(ConnectedAccount.id).where(ConnectedAccount.id == account_id)
            )
            if known is None:
                # Such a key would sign in to nothing but 404s.
                raise KeyError_(f"no connected account {account_id} in this service's database")
        _, raw = await create_key(
            session, role="admin" if role == "admin" else "seller", account_id=account_id, name=name
        )
        return raw

    try:
        raw = asyncio.run(_with_session(run))
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(raw)


@keys.command("list")
def keys_list() -> None:
    """List keys (prefix, role, account, state); secrets are never shown."""
    from platform_service.auth.keys import list_keys

    rows = asyncio.run(_with_session(list_keys))
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        click.echo(
            f"{row.id}\tpsk_{row.prefix}_…\t{row.role}\t{row.account_id or '-'}\t{state}\t{row.name or ''}"
        )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id (key_…) or prefix."""
    from platform_service.auth.keys import KeyError_, revoke_key

    try:
        row = asyncio.run(_with_session(lambda s: revoke_key(s, key_id)))
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {row.id}", err=True)


@main.group()
def bulk() -> None:
    """Push a branding or portal-settings change to many accounts through the API, and steer the job."""


def _default_api_url() -> str:
    """The API this machine's configuration serves: PLATFORM_PUBLIC_URL, else PLATFORM_HOST:PORT."""
    settings = _settings()
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host, port = settings.host or "127.0.0.1", settings.port
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"  # a host name
    if ip.is_unspecified:
        # A wildcard bind address is not one to connect to.
        ip = ipaddress.ip_address("127.0.0.1" if ip.version == 4 else "::1")
    return f"http://{ip}:{port}" if ip.version == 4 else f"http://[{ip}]:{port}"


def _api_options(fn: Any) -> Any:
    options = [
        click.option(
            "--api-url",
            envvar="PLATFORM_API_URL",
            default=_default_api_url,
            show_default="PLATFORM_PUBLIC_URL, else http://PLATFORM_HOST:PLATFORM_PORT",
            help="The platform_service API (or PLATFORM_API_URL).",
        ),
        click.option(
            "--api-key",
            envvar="PLATFORM_API_KEY",
            required=True,
            help="An admin key (or PLATFORM_API_KEY).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _bulk_options(fn: Any) -> Any:
    options = [
        click.option(
            "--accounts-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            required=True,
            help="One acct_… per line, or a CSV with an account_id column.",
        ),
        click.option(
            "--patch",
            "patch_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            required=True,
            help="The JSON patch to apply to each account.",
        ),
        click.option(
            "--dry-run", is_flag=True, help="Compute and store each account's diff; write nothing."
        ),
        click.option(
            "--canary",
            type=int,
            default=None,
            help="Apply to the first N accounts, then pause for approval.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return _api_options(fn)


@bulk.command("branding")
@_bulk_options
@click.option(
    "--logo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A logo image, uploaded once for the job.",
)
@click.option(
    "--icon",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An icon image, uploaded once for the job.",
)
def bulk_branding(
    accounts_file: Path,
    patch_file: Path,
    dry_run: bool,
    canary: int | None,
    api_url: str,
    api_key: str,
    logo: Path | None,
    icon: Path | None,
) -> None:
    """Apply a branding patch to every listed account, with a live progress bar."""
    from platform_service.bulk.cli import submit_and_follow

    images = {name: path for name, path in (("logo", logo), ("icon", icon)) if path is not None}
    sys.exit(
        submit_and_follow(
            kind="branding",
            api_url=api_url,
            api_key=api_key,
            accounts_file=accounts_file,
            patch_file=patch_file,
            dry_run=dry_run,
            canary=canary,
            images=images,
        )
    )


@bulk.command("portal-settings")
@_bulk_options
def bulk_portal_settings(
    accounts_file: Path,
    patch_file: Path,
    dry_run: bool,
    canary: int | None,
    api_url: str,
    api_key: str,
) -> None:
    """Apply a portal-settings patch to every listed account, with a live progress bar."""
    from platform_service.bulk.cli import submit_and_follow

    sys.exit(
        submit_and_follow(
            kind="portal_settings",
            api_url=api_url,
            api_key=api_key,
            accounts_file=accounts_file,
            patch_file=patch_file,
            dry_run=dry_run,
            canary=canary,
            images={},
        )
    )


@bulk.command("status")
@click.argument("job_id")
@_api_options
def bulk_status(job_id: str, api_url: str, api_key: str) -> None:
    """Show a job: a summary on stderr, the job as JSON on stdout."""
    from platform_service.bulk.cli import status

    status(api_url=api_url, api_key=api_key, job_id=job_id)


@bulk.command("watch")
@click.argument("job_id")
@_api_options
def bulk_watch(job_id: str, api_url: str, api_key: str) -> None:
    """Follow a job until it ends or pauses for its canary (exit 1 unless it succeeded or paused)."""
    from platform_service.bulk.cli import watch

    sys.exit(watch(api_url=api_url, api_key=api_key, job_id=job_id))


def _bulk_action(action: str, doc: str) -> None:
    @bulk.command(action, help=doc)
    @click.argument("job_id")
    @_api_options
    @click.option("--watch", "then_watch", is_flag=True, help="Then follow the job.")
    def command(job_id: str, api_url: str, api_key: str, then_watch: bool) -> None:
        from platform_service.bulk.cli import act

        sys.exit(
            act(
                api_url=api_url,
                api_key=api_key,
                job_id=job_id,
                action=action,
                then_watch=then_watch,
            )
        )


_bulk_action("resume", "Approve a paused canary: apply the change to the remaining accounts.")
_bulk_action("cancel", "Stop a job: accounts not yet changed are skipped.")
_bulk_action(
    "retry-failed", "Queue a finished job's failed accounts again (nothing applies twice)."
)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
