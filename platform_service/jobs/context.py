"""What a job receives in `ctx`: the parts of the process it may use, never the whole runtime.

`Runtime.job_context()` fills it for the in-process queue and the arq worker
alike; arq adds `redis`, `job_id` and `job_try`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from platform_service.jobs.outbox import AfterCommit
    from platform_service.jobs.queue import JobQueue
    from platform_service.jobs.ratelimit import AccountLocks, RateLimiter
    from platform_service.settings import Settings
    from platform_service.stripe.gateway import StripeGateway


class JobContext(TypedDict, total=False):
    settings: Settings
    session_maker: async_sessionmaker[AsyncSession]
    gateway: StripeGateway
    queue: JobQueue
    after_commit: AfterCommit
    account_locks: AccountLocks
    limiter: RateLimiter | None
    redis: Any
    job_id: str
    job_try: int


def job_try(ctx: JobContext) -> int:
    """This run's try number (1 on the first run)."""
    return int(ctx.get("job_try") or 1)
