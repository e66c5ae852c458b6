"""Housekeeping jobs: the worker heartbeat that readiness reports."""

from __future__ import annotations

import os
import socket
from typing import Any

from platform_service.db.base import utcnow
from platform_service.jobs.models import WorkerHeartbeat
from platform_service.runtime import Runtime


async def worker_heartbeat(ctx: dict[str, Any], source: str | None = None) -> str:
    """Record that a worker is alive and running jobs (shown by `/health/ready`)."""
    runtime: Runtime = ctx["runtime"]
    name = source or f"{socket.gethostname()}:{os.getpid()}"
    async with runtime.session() as session, session.begin():
        row = await session.get(WorkerHeartbeat, name)
        if row is None:
            session.add(WorkerHeartbeat(name=name, last_seen=utcnow(), jobs_seen=1))
        else:
            row.last_seen = utcnow()
            row.jobs_seen += 1
    return name
