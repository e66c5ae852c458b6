"""Programmatic Alembic: `platform-service db upgrade` and the embedded default's self-migration."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from platform_service.db.engine import create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


async def _run(
    database_url: str, engine: AsyncEngine | None, command_fn: Any, revision: str
) -> None:
    """Run an Alembic command on the async engine's connection (one transaction)."""
    eng = engine or create_engine(database_url)
    cfg = alembic_config(database_url)
    try:
        async with eng.begin() as connection:

            def _go(sync_conn: object) -> None:
                cfg.attributes["connection"] = sync_conn
                command_fn(cfg, revision)

            await connection.run_sync(_go)
    finally:
        if engine is None:
            await eng.dispose()


async def upgrade(
    database_url: str, revision: str = "head", engine: AsyncEngine | None = None
) -> None:
    """Bring the database at `database_url` to `revision`."""
    await _run(database_url, engine, command.upgrade, revision)


async def downgrade(database_url: str, revision: str) -> None:
    """Revert the database at `database_url` down to `revision`."""
    await _run(database_url, None, command.downgrade, revision)


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(database_url, revision))
