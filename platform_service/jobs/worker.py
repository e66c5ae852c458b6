"""The arq worker: `platform-service worker` runs every registered job from Redis."""

from __future__ import annotations

from typing import Any

import structlog
from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func

from platform_service.jobs.catalog import CRONS, JOBS
from platform_service.jobs.queue import ArqQueue
from platform_service.jobs.ratelimit import traffic_class
from platform_service.runtime import Runtime
from platform_service.settings import Settings, load_settings


def _cron_fields(interval_s: int) -> dict[str, Any]:
    if interval_s < 60:
        return {"second": set(range(0, 60, max(interval_s, 1)))}
    return {"minute": set(range(0, 60, max(interval_s // 60, 1))), "second": 0}


def worker_options(settings: Settings, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """arq `Worker` keyword arguments: every registered job, sharing one `Runtime` via `ctx`."""
    if not settings.redis_url:
        raise RuntimeError(
            "REDIS_URL is not set: without Redis, jobs run inside `platform-service serve`."
        )
    owns_runtime = runtime is None

    async def on_startup(ctx: dict[str, Any]) -> None:
        rt = runtime or Runtime.build(settings, role="worker")
        # Jobs that enqueue follow-up jobs reuse the worker's own Redis pool.
        rt.queue = ArqQueue(ctx["redis"], settings.job_queue_name, owns_pool=False)
        ctx.update(rt.job_context())
        ctx["_runtime"] = rt

    async def on_job_start(ctx: dict[str, Any]) -> None:
        # Runs in the job's task before the job: its Stripe calls are background
        # traffic, which yields the interactive share to the API.
        traffic_class.set("background")
        structlog.contextvars.bind_contextvars(job_id=ctx.get("job_id"), job_try=ctx.get("job_try"))

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        rt: Runtime | None = ctx.get("_runtime")
        if rt is not None and owns_runtime:
            await rt.aclose()

    functions = [
        func(
            spec.function,  # type: ignore[arg-type]
            name=spec.name,
            max_tries=spec.max_tries or settings.job_max_tries,
            timeout=spec.timeout_s,
        )
        for spec in JOBS.values()
    ]
    cron_jobs = [
        cron(
            spec.function,  # type: ignore[arg-type]
            name=f"cron:{spec.name}",
            run_at_startup=spec.run_at_startup,
            **_cron_fields(spec.interval_s),
        )
        for spec in CRONS.values()
    ]
    return {
        "functions": functions,
        "cron_jobs": cron_jobs,
        "queue_name": settings.job_queue_name,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "on_job_start": on_job_start,
        "max_tries": settings.job_max_tries,
        "poll_delay": 0.2,
    }


def build_worker(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    burst: bool = False,
    handle_signals: bool = True,
    max_jobs: int = 10,
) -> Worker:
    """The worker `platform-service worker` runs (tests run it with `burst=True`)."""
    return Worker(
        **worker_options(settings, runtime=runtime),
        burst=burst,
        handle_signals=handle_signals,
        max_jobs=max_jobs,
    )


def __getattr__(name: str) -> Any:
    # `arq platform_service.jobs.worker.WorkerSettings` works too; built on first access so
    # importing this module never reads the environment.
    if name == "WorkerSettings":
        return type("WorkerSettings", (), worker_options(load_settings()))
    raise AttributeError(name)
