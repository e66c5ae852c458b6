"""Jobs run through a real arq worker on Redis and in-process, with the same functions."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from platform_service.jobs.models import WorkerHeartbeat
from platform_service.jobs.queue import ArqQueue, InProcessQueue
from platform_service.jobs.registry import load_all
from platform_service.jobs.worker import build_worker
from platform_service.runtime import Runtime
from platform_service.settings import Settings


async def _heartbeat(runtime: Runtime, name: str) -> WorkerHeartbeat | None:
    async with runtime.session() as session:
        return await session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == name))


async def test_job_runs_on_a_real_arq_worker(
    settings: Settings, runtime: Runtime, redis_url: str, queue_name: str
) -> None:
    worker_settings = Settings(
        **{**_as_dict(settings), "redis_url": redis_url, "job_queue_name": queue_name}
    )
    queue = await ArqQueue.connect(redis_url, queue_name)
    name = f"arq-{secrets.token_hex(3)}"
    try:
        assert await queue.enqueue("worker_heartbeat", name, job_id=f"hb:{name}")
        # arq refuses a second job with the same id while the first is queued.
        assert not await queue.enqueue("worker_heartbeat", name, job_id=f"hb:{name}")
        # The worker builds its own runtime, as `platform-service worker` does.
        worker = build_worker(worker_settings, burst=True, handle_signals=False)
        await worker.main()
        await worker.close()
    finally:
        await queue.aclose()
    row = await _heartbeat(runtime, name)
    assert row is not None and row.jobs_seen == 1


async def test_same_job_runs_in_process(runtime: Runtime) -> None:
    queue = InProcessQueue(runtime.job_context(), load_all(), default_max_tries=3)
    name = f"inproc-{secrets.token_hex(3)}"
    assert await queue.enqueue("worker_heartbeat", name, job_id=f"hb:{name}")
    assert not await queue.enqueue("worker_heartbeat", name, job_id=f"hb:{name}")
    await queue.drain()
    assert await queue.enqueue("worker_heartbeat", name)
    await queue.drain()
    await queue.aclose()
    row = await _heartbeat(runtime, name)
    assert row is not None and row.jobs_seen == 2


def _as_dict(settings: Settings) -> dict[str, object]:
    return {f: getattr(settings, f) for f in settings.__struct_fields__}
