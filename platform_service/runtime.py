"""The composition root: everything a process needs, built once from `Settings`.

The API, the worker and the CLI each build one `Runtime`; domain code receives
its parts (a session, the gateway, the after-commit queue, the settings it
reads), never the runtime itself nor the environment. Jobs get them in `ctx`
(`job_context`), routes as named dependencies (`app.py`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from platform_service.db.engine import create_engine, create_session_maker
from platform_service.jobs.context import JobContext
from platform_service.jobs.outbox import AfterCommit, spawner
from platform_service.jobs.ratelimit import (
    AccountLocks,
    Budget,
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    parse_endpoint_rates,
)
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from platform_service.jobs.queue import JobQueue
    from platform_service.jobs.registry import CronSpec, JobSpec
    from platform_service.sandbox.server import SandboxServer

logger = logging.getLogger(__name__)

# Stripe limits each endpoint to 25 requests/s, live or test, whatever the account's
# global budget (stripe-contract.md §4.1). A bulk job writes through one endpoint, so
# paced only to a live budget of 100/s it met Stripe's endpoint limit on most calls
# (bench/bulk.py --rate 100 against the sandbox: 40% 429s). Configured caps
# (PLATFORM_STRIPE_ENDPOINT_LIMITS) override these.
STRIPE_ENDPOINT_RATE = 25.0
_BULK_WRITES = (
    "accounts.update",
    "billing_portal.configurations.create",
    "billing_portal.configurations.update",
)

ProcessRole = Literal["api", "worker", "cli"]


class Runtime:
    """Engine, session factory, Stripe gateway, job queue and (embedded) sandbox of one process."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        gateway: StripeGateway,
        *,
        sandbox: SandboxServer | None = None,
        redis: Redis | None = None,
        webhook_secrets: tuple[str, ...] = (),
        connect_webhook_secrets: tuple[str, ...] = (),
        thin_webhook_secrets: tuple[str, ...] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.session_maker: async_sessionmaker[AsyncSession] = create_session_maker(engine)
        self.gateway = gateway
        self.sandbox = sandbox
        self.redis = redis
        self.webhook_secrets = webhook_secrets
        self.connect_webhook_secrets = connect_webhook_secrets
        self.thin_webhook_secrets = thin_webhook_secrets
        self.queue: JobQueue | None = None
        self.limiter = limiter
        self.account_locks = AccountLocks(redis, prefix=f"{settings.job_queue_name}:acctlock")
        self.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        self._background: set[asyncio.Task[Any]] = set()
        self.after_commit = AfterCommit(self.session_maker, lambda: self.queue, self.spawn)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background, keeping a reference until it finishes."""
        spawner(self._background)(coro)

    async def settle(self) -> None:
        """Wait for background work (after-commit enqueues) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def session(self) -> AsyncSession:
        return self.session_maker()

    @property
    def stripe_mode(self) -> str:
        if self.sandbox is not None:
            return "local-sandbox"
        if self.settings.stripe_api_base:
            return "sandbox"
        return "live" if self.settings.stripe_live_mode else "test"

    @classmethod
    def build(
        cls, settings: Settings, *, role: ProcessRole, public_url: str | None = None
    ) -> Runtime:
        """Build the runtime; with no Stripe configured, start the local sandbox in-process."""
        sandbox = None
        webhook_secrets = settings.stripe_webhook_secrets
        connect_secrets = settings.stripe_connect_webhook_secrets
        thin_secrets = settings.stripe_thin_webhook_secrets
        if settings.uses_local_sandbox:
            if role == "worker":
                raise RuntimeError(
                    "A separate worker needs a Stripe it can share with the API: run "
                    "`platform-service sandbox` and set STRIPE_API_BASE, or set STRIPE_SECRET_KEY."
                )
            from platform_service.sandbox.server import SandboxConfig, SandboxServer

            webhooks: list[tuple[str, str, bool]] = []
            destinations: list[tuple[str, str]] = []
            base = public_url or settings.public_url
            if base and role == "api":
                webhook_secrets = webhook_secrets or (f"whsec_local_{secrets.token_hex(16)}",)
                connect_secrets = connect_secrets or (f"whsec_local_{secrets.token_hex(16)}",)
                thin_secrets = thin_secrets or (f"whsec_local_{secrets.token_hex(16)}",)
                webhooks = [
                    (f"{base}/v1/webhooks/stripe", webhook_secrets[0], False),
                    (f"{base}/v1/webhooks/stripe/connect", connect_secrets[0], True),
                ]
                # Accounts v2 changes arrive as thin events, through an event destination.
                destinations = [(f"{base}/v1/webhooks/stripe/thin", thin_secrets[0])]
            # Stripe's test-mode limits stay on (SandboxConfig's defaults): the embedded
            # default is where an operator first sees the service pace itself, and the
            # budget it paces to (`effective_rate_limit`, 25/s for test keys) is Stripe's.
            sandbox = SandboxServer(
                SandboxConfig(
                    limits=True,
                    seed_demo=settings.sandbox_demo,
                    webhooks=webhooks,
                    event_destinations=destinations,
                )
            )
            sandbox.start()
            secret_key: str = sandbox.secret_key
            api_base: str | None = sandbox.url
        else:
            secret_key = settings.stripe_secret_key or "sk_test_sandbox"
            api_base = settings.stripe_api_base
        redis = None
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
        budget = Budget(
            rate=settings.effective_rate_limit,
            interactive_share=settings.interactive_share,
            endpoint_rates={
                **dict.fromkeys(_BULK_WRITES, STRIPE_ENDPOINT_RATE),
                **parse_endpoint_rates(settings.stripe_endpoint_limits),
            },
        )
        limiter: RateLimiter = (
            RedisRateLimiter(redis, budget, prefix=f"{settings.job_queue_name}:ratelimit")
            if redis is not None
            else LocalRateLimiter(budget)
        )
        gateway = StripeGateway(
            secret_key=secret_key,
            api_base=api_base,
            max_network_retries=settings.stripe_max_network_retries,
            timeout_s=settings.stripe_timeout_s,
            before_call=limiter.acquire,
        )
        runtime = cls(
            settings,
            create_engine(settings.database_url),
            gateway,
            sandbox=sandbox,
            redis=redis,
            webhook_secrets=webhook_secrets,
            connect_webhook_secrets=connect_secrets,
            thin_webhook_secrets=thin_secrets,
            limiter=limiter,
        )
        if public_url:
            runtime.public_url = public_url
        return runtime

    async def start_queue(
        self, jobs: Mapping[str, JobSpec], crons: Mapping[str, CronSpec]
    ) -> JobQueue:
        """Connect to arq on Redis, or start the in-process runner with the same jobs."""
        from platform_service.jobs.queue import ArqQueue, InProcessQueue

        if self.settings.redis_url:
            self.queue = await ArqQueue.connect(
                self.settings.redis_url, self.settings.job_queue_name
            )
        else:
            inproc = InProcessQueue(
                self.job_context(), jobs, default_max_tries=self.settings.job_max_tries, crons=crons
            )
            inproc.ctx["queue"] = inproc
            inproc.start_crons()
            self.queue = inproc
        return self.queue

    def job_context(self) -> JobContext:
        """The parts a job may use (`ctx`); the queue is set once it has started."""
        ctx = JobContext(
            settings=self.settings,
            session_maker=self.session_maker,
            gateway=self.gateway,
            after_commit=self.after_commit,
            account_locks=self.account_locks,
            limiter=self.limiter,
        )
        if self.queue is not None:
            ctx["queue"] = self.queue
        return ctx

    async def aclose(self) -> None:
        await self.settle()
        if self.queue is not None:
            await self.queue.aclose()
        await self.gateway.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
        if self.sandbox is not None:
            self.sandbox.stop()
