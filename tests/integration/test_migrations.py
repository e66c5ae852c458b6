"""The same migrations run on PostgreSQL and SQLite, up and down."""

from __future__ import annotations

import importlib
from pathlib import Path

from sqlalchemy import inspect

from platform_service.db.engine import create_engine
from platform_service.db.migrate import downgrade, upgrade
from platform_service.db.models import Base


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _roundtrip(url: str) -> None:
    await upgrade(url)
    tables = await _tables(url)
    assert set(Base.metadata.tables) <= tables
    await downgrade(url, "base")
    assert await _tables(url) <= {"alembic_version"}
    await upgrade(url)
    assert set(Base.metadata.tables) <= await _tables(url)


async def test_migrations_on_sqlite(tmp_path: Path) -> None:
    await _roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")


async def test_migrations_on_postgresql(pg_url: str) -> None:
    # A second database so the shared session database keeps its schema.
    import asyncpg

    from tests.fixtures.services import PG_ADMIN_DSN

    name = pg_url.rsplit("/", 1)[1] + "_mig"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        await _roundtrip(pg_url.rsplit("/", 1)[0] + "/" + name)
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def test_models_and_migrations_agree(migrated: str) -> None:
    """Autogenerate finds nothing to add: every model change came with a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from platform_service.db.migrations.env_helpers import include_object

    engine = create_engine(migrated)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"include_object": include_object}),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_stored_css_fonts_become_stripe_fonts_or_are_cleared(tmp_path: Path) -> None:
    from sqlalchemy import text

    url = f"sqlite+aiosqlite:///{tmp_path / 'fonts.sqlite3'}"
    await upgrade(url, "0008")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO platform_branding (id, version, font_family, created_at, "
                    "updated_at) VALUES (1, 1, '\"Open Sans\", sans-serif', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        await upgrade(url, "0009", engine=engine)
        async with engine.connect() as conn:
            font = await conn.scalar(text("SELECT font_family FROM platform_branding"))
        assert font == "open_sans"
    finally:
        await engine.dispose()

    module = importlib.import_module(
        "platform_service.db.migrations.versions.0009_branding_stripe_fonts"
    )
    assert module.stripe_font("Inter") == "inter"
    assert module.stripe_font("'PT Serif', serif") == "pt_serif"
    assert module.stripe_font("Comic Sans MS, cursive") is None
    assert module.stripe_font("system-ui") is None
