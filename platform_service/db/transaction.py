"""The one transaction rule of the service.

1. A request's writes go through its `db_session` and commit when the handler
   returns a non-error response (2xx, and 3xx: a form post that redirects
   commits like a JSON 200); any error response rolls them back. Routes never
   commit or open sessions of their own.
2. A job owns its transactions: one `async with session_maker.begin()` per unit
   of work, its effect and its completion stamp together.
3. A service that must keep a failure record although the request or job fails
   (a Stripe sync that failed after the new version was saved) does that work
   in a short transaction of its own: `kept_on(session_maker, StripeGatewayError)`.
4. Jobs asked for inside a transaction run only if it commits:
   `jobs.outbox.AfterCommit`, the one after-commit enqueue for everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

SessionMaker = async_sessionmaker[AsyncSession]


def request_transactions(engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """The request session of rule 1: committed on 2xx and 3xx, rolled back otherwise."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        before_send_handler="autocommit_include_redirects",
        session_config=AsyncSessionConfig(expire_on_commit=False),
    )


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
