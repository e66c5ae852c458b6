"""Console sign-in sessions: opened with an API key, then carried by a random cookie token.

The cookie holds a 256-bit token; the table holds its SHA-256 digest, so a copy
of the database opens no session. Each session has its own CSRF token, which
every console form posts back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.keys import Caller, Role
from platform_service.auth.models import ApiKey, ConsoleSession
from platform_service.db.base import utcnow

# A working day: long enough not to interrupt an operator, short enough that a
# forgotten browser is not signed in tomorrow.
SESSION_LIFETIME = timedelta(hours=8)


class ConsoleAuth(msgspec.Struct, frozen=True, kw_only=True):
    """What a signed-in request carries besides its caller (`request.auth`)."""

    session_id: str
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(session: AsyncSession, caller: Caller) -> tuple[str, ConsoleSession]:
    """Open a session for `caller`; returns the cookie token (never stored) and the row."""
    # Sessions are only opened by people signing in, so sweeping the long-dead ones
    # here keeps the table small without a job of its own.
    await session.execute(
        delete(ConsoleSession).where(ConsoleSession.expires_at < utcnow() - SESSION_LIFETIME)
    )
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id=_digest(token),
        key_id=caller.key_id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + SESSION_LIFETIME,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve_session(session: AsyncSession, token: str) -> tuple[Caller, ConsoleAuth] | None:
    """The caller behind a cookie token: None if unknown, expired, revoked, or its key revoked."""
    if not token or len(token) > 128:
        return None
    found = (
        await session.execute(
            select(ConsoleSession, ApiKey)
            .join(ApiKey, ApiKey.id == ConsoleSession.key_id)
            .where(ConsoleSession.id == _digest(token))
        )
    ).first()
    if found is None:
        return None
    row, key = found
    if row.revoked_at is not None or row.expires_at <= utcnow() or key.revoked_at is not None:
        return None
    role: Role = "admin" if key.role == "admin" else "seller"
    caller = Caller(role=role, key_id=key.id, account_id=key.account_id)
    return caller, ConsoleAuth(session_id=row.id, csrf_token=row.csrf_token)


async def revoke_session(session: AsyncSession, session_id: str) -> None:
    """End a session now; ending an ended one changes nothing."""
    row = await session.get(ConsoleSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def csrf_matches(expected: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())
