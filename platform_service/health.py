"""Liveness, readiness (database, Redis, Stripe) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import select, text

from platform_service.db.base import utcnow
from platform_service.deps import RuntimeDep
from platform_service.jobs.models import WorkerHeartbeat
from platform_service.openapi import documented


class Check(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One dependency's check."""

    ok: bool
    latency_ms: Annotated[float, msgspec.Meta(description="How long the check took.")]
    detail: Annotated[str | None, msgspec.Meta(description="The error, when it failed.")] = None


class Readiness(msgspec.Struct, kw_only=True):
    """Whether the service can serve: each dependency's check, and how jobs run."""

    status: Annotated[str, msgspec.Meta(description="`ok` or `unavailable`.")]
    checks: Annotated[
        dict[str, Check], msgspec.Meta(description="`database`, `stripe` and, with Redis, `redis`.")
    ]
    stripe_mode: Annotated[
        str,
        msgspec.Meta(
            description="`local-sandbox` (in-process), `sandbox` (a sandbox at a configured "
            "base URL), `test` or `live`."
        ),
    ]
    jobs: Annotated[str, msgspec.Meta(description="`in-process` or `arq` (Redis workers).")]
    workers_seen: Annotated[
        int, msgspec.Meta(description="arq workers that reported in the last five minutes.")
    ]


async def _timed(coro: Any, timeout: float = 5.0) -> Check:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(coro, timeout=timeout)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return Check(
            ok=False, latency_ms=round((time.perf_counter() - start) * 1000, 1), detail=detail
        )
    return Check(ok=True, latency_ms=round((time.perf_counter() - start) * 1000, 1))


class HealthController(Controller):
    path = "/"
    tags = ["Health"]
    # Probes need no key (`auth.guard.PUBLIC_PATHS`): this overrides the document's default.
    security = [{}]

    @get(
        "/health/live",
        operation_id="Live",
        summary="The process is up",
        description="Liveness: answers 200 while the process serves requests; checks nothing else.",
        **documented(),
    )
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/health/ready",
        operation_id="Ready",
        summary="Database, Redis and Stripe are reachable",
        description="Readiness: checks the database, Redis (when configured) and Stripe, "
        "and counts the workers seen in the last five minutes. 503, with the same body, "
        "when any check fails.",
        **documented(
            responses={
                503: ResponseSpec(
                    Readiness,
                    generate_examples=False,
                    description="A check failed: `checks` says which, with its error.",
                )
            }
        ),
    )
    async def ready(self, runtime: RuntimeDep) -> Response[Readiness]:
        async def db() -> None:
            async with runtime.session() as session:
                await session.execute(text("SELECT 1"))

        checks = {"database": await _timed(db()), "stripe": await _timed(runtime.gateway.ping())}
        if runtime.redis is not None:
            checks["redis"] = await _timed(runtime.redis.ping())
        workers = 0
        if checks["database"].ok:
            async with runtime.session() as session:
                since = utcnow() - timedelta(minutes=5)
                rows = await session.scalars(
                    select(WorkerHeartbeat).where(WorkerHeartbeat.last_seen >= since)
                )
                workers = len(rows.all())
        ok = all(c.ok for c in checks.values())
        body = Readiness(
            status="ok" if ok else "unavailable",
            checks=checks,
            stripe_mode=runtime.stripe_mode,
            jobs="in-process" if runtime.settings.jobs_in_process else "arq",
            workers_seen=workers,
        )
        return Response(body, status_code=200 if ok else 503)

    @get("/metrics", operation_id="Metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics(self) -> Response[bytes]:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


__all__ = ["HealthController", "MediaType"]
