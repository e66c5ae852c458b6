"""Jobs run through a real arq worker on Redis and in-process, with the same functions."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from platform_service.jobs.catalog import JOBS
from platform_service.jobs.models import WorkerHeartbeat
from platform_service.jobs.queue import ArqQueue, InProcessQueue
from platform_service.jobs.registry import JobSpec
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
    queue = InProcessQueue(runtime.job_context(), JOBS, default_max_tries=3)
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


async def test_retry_rules_are_the_same_in_process_and_on_arq(
    settings: Settings, runtime: Runtime, redis_url: str, queue_name: str
) -> None:
    """A job asking `Retry` runs again up to its max_tries, on both queues."""
    from arq import Retry

    tries: dict[str, list[int]] = {}

    async def flaky(ctx: dict[str, object], key: str, fail_times: int) -> str:
        tries.setdefault(key, []).append(int(ctx["job_try"]))  # type: ignore[call-overload]
        if len(tries[key]) <= fail_times:
            raise Retry(defer=0.01)
        return "ok"

    JOBS["test_flaky"] = JobSpec(name="test_flaky", function=flaky, max_tries=3, timeout_s=10)
    try:
        inproc = InProcessQueue(runtime.job_context(), JOBS, default_max_tries=8)
        await inproc.enqueue("test_flaky", "inproc-ok", 2)
        await inproc.enqueue("test_flaky", "inproc-give-up", 10)
        await inproc.drain()
        await inproc.aclose()

        arq_settings = Settings(
            **{**_as_dict(settings), "redis_url": redis_url, "job_queue_name": queue_name}
        )
        queue = await ArqQueue.connect(redis_url, queue_name)
        await queue.enqueue("test_flaky", "arq-ok", 2)
        await queue.enqueue("test_flaky", "arq-give-up", 10)
        worker = build_worker(arq_settings, burst=True, handle_signals=False)
        await worker.main()
        await worker.close()
        await queue.aclose()
    finally:
        del JOBS["test_flaky"]
    assert tries["inproc-ok"] == tries["arq-ok"] == [1, 2, 3]
    assert tries["inproc-give-up"] == tries["arq-give-up"] == [1, 2, 3]
