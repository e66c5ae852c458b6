"""Liveness, readiness (database, Redis, Stripe) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, MediaType, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import select, text

from platform_service.db.base import utcnow
from platform_service.deps import RuntimeDep
from platform_service.jobs.models import WorkerHeartbeat


class Check(msgspec.Struct, omit_defaults=True, kw_only=True):
    ok: bool
    latency_ms: float
    detail: str | None = None


class Readiness(msgspec.Struct, kw_only=True):
    status: str
    checks: dict[str, Check]
    stripe_mode: str
    jobs: str
    workers_seen: int


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

    @get("/health/live", operation_id="Live", summary="The process is up")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/health/ready", operation_id="Ready", summary="Database, Redis and Stripe are reachable")
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
