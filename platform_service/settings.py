"""One typed settings object, loaded once from the environment.

Domain code never reads the environment: the composition root (app factory, CLI,
worker) loads `Settings` and hands values down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

DEFAULT_SQLITE_FILE = "platform_service.sqlite3"


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Every knob of the service. The README's configuration table lists them all."""

    # Conventional names, no prefix.
    database_url: str = f"sqlite+aiosqlite:///./{DEFAULT_SQLITE_FILE}"
    redis_url: str | None = None
    stripe_secret_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secrets: tuple[str, ...] = ()
    stripe_connect_webhook_secrets: tuple[str, ...] = ()
    # Signing secrets of the event destination that delivers thin (v2) events.
    stripe_thin_webhook_secrets: tuple[str, ...] = ()
    # Which Accounts API new accounts use: "v1" (/v1/accounts) or "v2" (/v2/core/accounts).
    # Each account keeps its own (`accounts_api`), so a platform can migrate one at a time.
    stripe_accounts_api: Literal["v1", "v2"] = "v1"

    # PLATFORM_* knobs.
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # JSON lines for collectors; "console" for a person reading a terminal.
    log_format: Literal["json", "console"] = "json"
    stripe_max_network_retries: int = 2
    stripe_timeout_s: float = 20.0
    job_queue_name: str = "platform_service"
    job_max_tries: int = 8
    sandbox_demo: bool = True
    sellers_edit_branding: bool = True
    sellers_edit_portal: bool = True
    allowed_return_hosts: tuple[str, ...] = ()
    rate_limit_ops_per_s: float | None = None
    interactive_share: float = 0.2
    stripe_endpoint_limits: tuple[str, ...] = ("files.create=20",)
    bulk_batch_size: int = 50
    bulk_concurrency: int = 4
    bulk_max_attempts: int = 8
    bulk_lease_s: float = 60.0
    bulk_backoff_s: float = 0.5
    max_upload_bytes: int = 512 * 1024
    reconcile_interval_s: int = 900
    reconcile_stale_after_s: int = 3600

    @property
    def uses_local_sandbox(self) -> bool:
        """No Stripe configured at all: the in-process sandbox stands in for it."""
        return self.stripe_secret_key is None and self.stripe_api_base is None

    @property
    def stripe_live_mode(self) -> bool:
        return bool(
            self.stripe_secret_key and self.stripe_secret_key.startswith(("sk_live_", "rk_live_"))
        )

    @property
    def effective_rate_limit(self) -> float:
        """Stripe's global budget: 100 ops/s for live keys, 25 for sandbox keys."""
        if self.rate_limit_ops_per_s is not None:
            return self.rate_limit_ops_per_s
        return 100.0 if self.stripe_live_mode else 25.0

    @property
    def jobs_in_process(self) -> bool:
        return self.redis_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# env name -> field name; every entry is documented in the README.
ENV_VARS: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "STRIPE_SECRET_KEY": "stripe_secret_key",
    "STRIPE_API_BASE": "stripe_api_base",
    "STRIPE_WEBHOOK_SECRETS": "stripe_webhook_secrets",
    "STRIPE_CONNECT_WEBHOOK_SECRETS": "stripe_connect_webhook_secrets",
    "STRIPE_THIN_WEBHOOK_SECRETS": "stripe_thin_webhook_secrets",
    "STRIPE_ACCOUNTS_API": "stripe_accounts_api",
    "PLATFORM_HOST": "host",
    "PLATFORM_PORT": "port",
    "PLATFORM_PUBLIC_URL": "public_url",
    "PLATFORM_LOG_LEVEL": "log_level",
    "PLATFORM_LOG_FORMAT": "log_format",
    "PLATFORM_STRIPE_MAX_NETWORK_RETRIES": "stripe_max_network_retries",
    "PLATFORM_STRIPE_TIMEOUT_S": "stripe_timeout_s",
    "PLATFORM_JOB_QUEUE_NAME": "job_queue_name",
    "PLATFORM_JOB_MAX_TRIES": "job_max_tries",
    "PLATFORM_SANDBOX_DEMO": "sandbox_demo",
    "PLATFORM_SELLERS_EDIT_BRANDING": "sellers_edit_branding",
    "PLATFORM_SELLERS_EDIT_PORTAL": "sellers_edit_portal",
    "PLATFORM_ALLOWED_RETURN_HOSTS": "allowed_return_hosts",
    "PLATFORM_RATE_LIMIT_OPS_PER_S": "rate_limit_ops_per_s",
    "PLATFORM_INTERACTIVE_SHARE": "interactive_share",
    "PLATFORM_STRIPE_ENDPOINT_LIMITS": "stripe_endpoint_limits",
    "PLATFORM_BULK_BATCH_SIZE": "bulk_batch_size",
    "PLATFORM_BULK_CONCURRENCY": "bulk_concurrency",
    "PLATFORM_BULK_MAX_ATTEMPTS": "bulk_max_attempts",
    "PLATFORM_BULK_LEASE_S": "bulk_lease_s",
    "PLATFORM_BULK_BACKOFF_S": "bulk_backoff_s",
    "PLATFORM_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "PLATFORM_RECONCILE_INTERVAL_S": "reconcile_interval_s",
    "PLATFORM_RECONCILE_STALE_AFTER_S": "reconcile_stale_after_s",
}

_LIST_FIELDS = {
    "stripe_webhook_secrets",
    "stripe_connect_webhook_secrets",
    "stripe_thin_webhook_secrets",
    "allowed_return_hosts",
    "stripe_endpoint_limits",
}


def normalise_database_url(url: str) -> str:
    """Pick the async driver for the usual URL spellings (postgres://, sqlite:///)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build `Settings` from the environment (or `environ`), then `overrides`."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for name, field in ENV_VARS.items():
        value = env.get(name)
        if value is None or value == "":
            continue
        if field in _LIST_FIELDS:
            raw[field] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            raw[field] = value
    raw.update(overrides)
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        field = _field_from_error(str(exc))
        env_name = next((k for k, v in ENV_VARS.items() if v == field), field)
        raise SettingsError(f"invalid configuration {env_name}: {exc}") from exc
    settings = msgspec.structs.replace(
        settings, database_url=normalise_database_url(settings.database_url)
    )
    if settings.stripe_api_base is not None and settings.stripe_live_mode:
        # A live key never talks to anything but Stripe itself.
        raise SettingsError("STRIPE_API_BASE cannot be combined with a live STRIPE_SECRET_KEY")
    if not 0 <= settings.interactive_share < 1:
        raise SettingsError("PLATFORM_INTERACTIVE_SHARE must be in [0, 1)")
    return settings


def _field_from_error(message: str) -> str:
    marker = "$."
    if marker in message:
        return message.split(marker, 1)[1].rstrip("`").split(".")[0].split("[")[0]
    return "?"


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split(":///", 1)[-1]
    if not path or path == ":memory:":
        return None
    return Path(path)
