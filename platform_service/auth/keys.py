"""API key creation, lookup and revocation.

Keys look like `psk_<prefix>_<secret>`. The prefix finds the row; the secret is
compared as a SHA-256 digest in constant time. Keys carry 192 bits of entropy,
so a fast hash is the right tool here (a password KDF adds latency to every
request and nothing against brute force on such keys).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.models import ApiKey
from platform_service.db.base import utcnow

Role = Literal["admin", "seller"]
KEY_PREFIX = "psk"


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: an admin, or a seller bound to one connected account."""

    role: Role
    key_id: str
    account_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.key_id}"

    def can_access(self, account_id: str) -> bool:
        return self.is_admin or self.account_id == account_id


class KeyError_(ValueError):
    """A key request that cannot be honoured (seller without account, unknown key)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The prefix is hex; the secret is URL-safe base64 and may itself contain "_". Anything
# else (a NUL, which PostgreSQL refuses in a query) is malformed, never looked up.
_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}_([0-9A-Za-z]+)_([0-9A-Za-z_-]+)")


def split_key(raw: str) -> tuple[str, str] | None:
    match = _KEY_SHAPE.fullmatch(raw.strip())
    if match is None:
        return None
    return match.group(1), match.group(2)


async def create_key(
    session: AsyncSession, *, role: Role, account_id: str | None = None, name: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the full key, which is never stored."""
    if role == "seller" and not account_id:
        raise KeyError_("a seller key must be bound to an account (--account acct_…)")
    if role == "admin" and account_id:
        raise KeyError_("an admin key is not bound to an account")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    row = ApiKey(
        prefix=prefix, secret_hash=_digest(secret), role=role, account_id=account_id, name=name
    )
    session.add(row)
    await session.flush()
    return row, f"{KEY_PREFIX}_{prefix}_{secret}"


async def authenticate(session: AsyncSession, raw: str) -> Caller | None:
    """The caller behind `raw`, or None for a malformed, unknown or revoked key."""
    parts = split_key(raw)
    if parts is None:
        return None
    prefix, secret = parts
    row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    # Compare even when the row is missing, so timing doesn't tell prefixes apart.
    expected = row.secret_hash if row is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        return None
    if row.revoked_at is not None:
        return None
    role: Role = "admin" if row.role == "admin" else "seller"
    return Caller(role=role, key_id=row.id, account_id=row.account_id)


async def revoke_key(session: AsyncSession, key_id_or_prefix: str) -> ApiKey:
    """Revoke a key by id or prefix; revoking a revoked key changes nothing."""
    row = await session.scalar(
        select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
    )
    if row is None:
        raise KeyError_(f"no such key: {key_id_or_prefix}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.created_at)))
