"""Housekeeping jobs: the worker heartbeat that readiness reports."""

from __future__ import annotations

import os
import socket

from platform_service.db.base import utcnow
from platform_service.jobs.context import JobContext
from platform_service.jobs.models import WorkerHeartbeat


async def worker_heartbeat(ctx: JobContext, source: str | None = None) -> str:
    """Record that a worker is alive and running jobs (shown by `/health/ready`)."""
    name = source or f"{socket.gethostname()}:{os.getpid()}"
    async with ctx["session_maker"]() as session, session.begin():
        row = await session.get(WorkerHeartbeat, name)
        if row is None:
            session.add(WorkerHeartbeat(name=name, last_seen=utcnow(), jobs_seen=1))
        else:
            row.last_seen = utcnow()
            row.jobs_seen += 1
    return name
