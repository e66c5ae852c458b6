"""Jobs of the webhook inbox: process one event, sweep lost ones."""

from __future__ import annotations

from arq import Retry

from platform_service.jobs.context import JobContext, job_try
from platform_service.webhooks import service

# Tries per enqueue (a replay starts a new count); the last failure is the dead letter.
MAX_TRIES = 6
# 5, 10, 20, 40, 80 s between tries: about 2.5 minutes before giving up, well inside
# the sweep's REQUEUE_AFTER so a waiting retry is not enqueued twice.
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 300.0


def backoff_s(job_try: int) -> float:
    """Seconds to wait after failed try number `job_try`."""
    return float(min(BACKOFF_BASE_S * 2 ** (job_try - 1), BACKOFF_MAX_S))


async def process_webhook_event(ctx: JobContext, event_id: int) -> str:
    """Run the domain handlers of one stored Stripe event, once."""
    attempt = job_try(ctx)
    # arq refuses to start a try past max_tries without calling us, so the last
    # try we do see must record the dead letter itself.
    outcome = await service.process_event(ctx, event_id, final_try=attempt >= MAX_TRIES)
    if outcome.retry:
        raise Retry(defer=backoff_s(attempt))
    return outcome.status


async def sweep_webhook_events(ctx: JobContext) -> int:
    """Re-enqueue events committed but never enqueued, or stuck with a dead worker."""
    return await service.sweep(ctx["session_maker"], ctx["after_commit"])
