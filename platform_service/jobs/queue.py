"""Where jobs go: arq on Redis in production, an in-process runner otherwise.

Both run the same registered functions with the same context and the same retry
rule (arq's): a job that raises `arq.Retry(defer=…)` runs again, up to its
`max_tries`; any other exception fails it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import structlog
from arq import ArqRedis, Retry, create_pool
from arq.connections import RedisSettings

from platform_service.jobs.context import JobContext
from platform_service.jobs.ratelimit import traffic_class
from platform_service.jobs.registry import CronSpec, JobSpec

logger = logging.getLogger(__name__)


class JobQueue(Protocol):
    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> bool:
        """Queue `function(*args)`; False when a job with `job_id` is already queued or running."""
        ...

    async def aclose(self) -> None: ...


class ArqQueue:
    """Enqueues on Redis for `platform-service worker` processes to run."""

    def __init__(self, pool: ArqRedis, queue_name: str, *, owns_pool: bool = True) -> None:
        self.pool = pool
        self.queue_name = queue_name
        self.owns_pool = owns_pool

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str) -> ArqQueue:
        pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue_name)
        return cls(pool, queue_name)

    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> bool:
        job = await self.pool.enqueue_job(
            function, *args, _job_id=job_id, _queue_name=self.queue_name, _defer_by=defer_by
        )
        return job is not None

    async def aclose(self) -> None:
        if self.owns_pool:
            await self.pool.aclose()


class InProcessQueue:
    """Runs jobs as tasks in this process: the embedded default, no Redis needed."""

    def __init__(
        self,
        ctx: JobContext,
        jobs: Mapping[str, JobSpec],
        *,
        default_max_tries: int,
        crons: Mapping[str, CronSpec] | None = None,
    ) -> None:
        self.ctx = ctx
        self.jobs = jobs
        self.crons = dict(crons or {})
        self.default_max_tries = default_max_tries
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cron_tasks: list[asyncio.Task[None]] = []
        self._counter = 0
        self._closed = False

    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> bool:
        if self._closed:
            raise RuntimeError("job queue is closed")
        spec = self.jobs.get(function)
        if spec is None:
            raise LookupError(f"no job named {function!r}")
        if job_id is not None and job_id in self._running:
            return False
        self._counter += 1
        key = job_id or f"inproc:{self._counter}"
        task = asyncio.create_task(
            self._run(spec, key, args, defer_by), name=f"job:{function}:{key}"
        )
        self._running[key] = task
        task.add_done_callback(lambda _t: self._running.pop(key, None))
        return True

    async def _run(
        self, spec: JobSpec, job_id: str, args: tuple[Any, ...], defer_by: float | None
    ) -> None:
        if defer_by:
            await asyncio.sleep(defer_by)
        max_tries = spec.max_tries or self.default_max_tries
        for attempt in range(1, max_tries + 1):
            ctx: JobContext = {**self.ctx, "job_id": job_id, "job_try": attempt}
            traffic_class.set("background")
            # The job's log lines carry its id (and the request id of the request
            # that queued it, copied with the task's context).
            structlog.contextvars.bind_contextvars(job_id=job_id, job=spec.name)
            try:
                await asyncio.wait_for(spec.function(ctx, *args), timeout=spec.timeout_s)
                return
            except Retry as retry:
                if attempt >= max_tries:
                    logger.error("job %s %s gave up after %d tries", spec.name, job_id, attempt)
                    return
                await asyncio.sleep((retry.defer_score or 0) / 1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("job %s %s failed", spec.name, job_id)
                return

    def start_crons(self) -> None:
        """Run the registered periodic jobs on their intervals, as arq's cron would."""
        for spec in self.crons.values():
            self._cron_tasks.append(
                asyncio.create_task(self._cron_loop(spec), name=f"cron:{spec.name}")
            )

    async def _cron_loop(self, spec: CronSpec) -> None:
        first = True
        while True:
            if not (first and spec.run_at_startup):
                await asyncio.sleep(spec.interval_s)
            first = False
            traffic_class.set("background")
            structlog.contextvars.bind_contextvars(job_id=f"cron:{spec.name}", job=spec.name)
            try:
                ctx: JobContext = {**self.ctx, "job_id": f"cron:{spec.name}", "job_try": 1}
                await spec.function(ctx)
            except Exception:
                logger.exception("cron %s failed", spec.name)

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until no job is queued or running (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while self._running:
                await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def aclose(self) -> None:
        self._closed = True
        tasks = list(self._running.values()) + self._cron_tasks
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
