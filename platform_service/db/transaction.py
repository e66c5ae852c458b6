"""The one transaction rule of the service.

1. A request's writes go through its `db_session` and commit when the handler
   returns a non-error response (2xx, and 3xx: a form post that redirects
   commits like a JSON 200); any error response rolls them back. Routes never
   commit or open sessions of their own. If that commit fails, the client gets
   a 503 in the error shape, never the success it would otherwise have seen.
2. A job owns its transactions: one `async with session_maker.begin()` per unit
   of work, its effect and its completion stamp together.
3. A service that must keep a failure record although the request or job fails
   (a Stripe sync that failed after the new version was saved) does that work
   in a short transaction of its own: `kept_on(session_maker, StripeGatewayError)`.
4. Jobs asked for inside a transaction run only if it commits:
   `jobs.outbox.AfterCommit`, the one after-commit enqueue for everything.
5. A write to an account locks it first (`accounts.service.lock_account_for_write`,
   `db.locks`), so writes to one account run one after the other on PostgreSQL and
   SQLite alike. A race that still loses (a unique row written concurrently) answers
   409 `conflict`, a database too busy to take the write 503 `database_busy`, both
   with `Retry-After` and the transaction rolled back (`errors`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import msgspec
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from advanced_alchemy.extensions.litestar._utils import delete_aa_scope_state, get_aa_scope_state
from litestar.types import Message, Scope
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from platform_service.errors import ServiceError
from platform_service.jobs.outbox import commit_then_dispatch

logger = logging.getLogger(__name__)
SessionMaker = async_sessionmaker[AsyncSession]
_FAILED_BODY = "platform_service.commit_failed_body"


class CommitFailed(ServiceError):
    status_code = 503
    type = "api_error"
    code = "commit_failed"


def request_transactions(engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """The request session of rule 1: committed on 2xx and 3xx, rolled back otherwise."""
    config = SQLAlchemyAsyncConfig(
        engine_instance=engine, session_config=AsyncSessionConfig(expire_on_commit=False)
    )
    # The scope key is only known once the config exists (Advanced Alchemy makes it
    # unique per config in the process).
    config.before_send_handler = _commit_on_success(config.session_scope_key)
    return config


def _commit_on_success(scope_key: str) -> Callable[[Message, Scope], Awaitable[None]]:
    async def handler(message: Message, scope: Scope) -> None:
        await commit_on_success(message, scope, scope_key)

    return handler


async def commit_on_success(message: Message, scope: Scope, scope_key: str) -> None:
    """End the request's transaction as the response starts: commit 2xx/3xx, roll back the rest.

    Advanced Alchemy's own autocommit handler logs a failed commit at debug level and
    lets the 2xx through; here the response becomes a 503 instead, so no client (nor
    Stripe, delivering a webhook) is told a write happened when it did not.
    """
    state = cast(dict[str, Any], scope)
    if message["type"] == "http.response.start":
        session = cast(AsyncSession | None, get_aa_scope_state(scope, scope_key))
        if session is None:
            return
        try:
            if 200 <= message["status"] < 400:
                try:
                    await commit_then_dispatch(session)
                except Exception:
                    logger.exception(
                        "commit failed; answering 503 instead of %s", message["status"]
                    )
                    await session.rollback()
                    failure = CommitFailed(
                        "The change could not be saved (a concurrent write or the database "
                        "refused it); nothing was changed. Retry the request.",
                        headers={"Retry-After": "1"},
                    )
                    body = msgspec.json.encode(failure.body())
                    state[_FAILED_BODY] = body
                    message["status"] = failure.status_code
                    message["headers"] = [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", b"1"),
                    ]
            else:
                await session.rollback()
        finally:
            await session.close()
            delete_aa_scope_state(scope, scope_key)
    elif message["type"] == "http.response.body" and _FAILED_BODY in state:
        message["body"] = state.pop(_FAILED_BODY)
        message["more_body"] = False


@asynccontextmanager
async def kept_on(
    session_maker: SessionMaker, *keep: type[BaseException]
) -> AsyncIterator[AsyncSession]:
    """A transaction of its own (rule 3): commits on success and when one of `keep` is raised.

    What the block wrote before raising `keep` (the failure record) stays, and the
    exception still propagates to answer the caller; any other exception rolls back.
    """
    async with session_maker() as session:
        try:
            yield session
        except keep:
            await session.commit()
            raise
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
