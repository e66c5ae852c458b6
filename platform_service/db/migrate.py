"""Programmatic Alembic: `platform-service db upgrade` and the embedded default's self-migration."""

from __future__ import annotations

import asyncio
from pathlib import Path

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


async def upgrade(
    database_url: str, revision: str = "head", engine: AsyncEngine | None = None
) -> None:
    """Bring the database at `database_url` to `revision`."""
    own = engine is None
    eng = engine or create_engine(database_url)
    cfg = alembic_config(database_url)
    try:
        async with eng.begin() as connection:

            def _upgrade(sync_conn: object) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await connection.run_sync(_upgrade)
    finally:
        if own:
            await eng.dispose()


async def downgrade(database_url: str, revision: str) -> None:
    engine = create_engine(database_url)
    cfg = alembic_config(database_url)
    try:
        async with engine.begin() as connection:

            def _downgrade(sync_conn: object) -> None:
                cfg.attributes["connection"] = sync_conn
                command.downgrade(cfg, revision)

            await connection.run_sync(_downgrade)
    finally:
        await engine.dispose()


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(database_url, revision))
