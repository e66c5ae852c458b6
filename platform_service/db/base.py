"""The declarative base every table derives from.

Types come from Advanced Alchemy so one model runs on PostgreSQL and SQLite:
`DateTimeUTC` stores aware UTC datetimes on both, `JsonB` is JSONB on PostgreSQL
and JSON elsewhere.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations read the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTimeUTC(timezone=True), dict[str, Any]: JsonB}


# A 64-bit autoincrementing key on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


# Indexes created by hand in migrations for PostgreSQL only (trigram search);
# autogenerate leaves them alone.
DATABASE_SPECIFIC_INDEXES = frozenset({"ix_accounts_search_trgm"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """Prefixed random ids (`key_…`, `job_…`), readable in logs like Stripe's."""
    return f"{prefix}_{secrets.token_hex(12)}"


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
