"""The job functions every queue and worker knows, registered by the domains.

A job takes ids, not payloads, and may run more than once (arq's own warning):
it loads its rows, exits if the work is already done, and stamps completion in
the transaction that does the work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    function: JobFunction
    max_tries: int | None = None
    timeout_s: float = 300.0


@dataclass(frozen=True)
class CronSpec:
    name: str
    function: JobFunction
    interval_s: int
    run_at_startup: bool = False


JOBS: dict[str, JobSpec] = {}
CRONS: dict[str, CronSpec] = {}


def job(
    *, name: str | None = None, max_tries: int | None = None, timeout_s: float = 300.0
) -> Callable[[JobFunction], JobFunction]:
    """Register a coroutine `fn(ctx, *args)` as a job under its name."""

    def register(fn: JobFunction) -> JobFunction:
        key = name or fn.__name__
        JOBS[key] = JobSpec(name=key, function=fn, max_tries=max_tries, timeout_s=timeout_s)
        return fn

    return register


def cron(
    *, interval_s: int, name: str | None = None, run_at_startup: bool = False
) -> Callable[[JobFunction], JobFunction]:
    """Register a periodic job; `interval_s` must divide a day into whole minutes or seconds."""

    def register(fn: JobFunction) -> JobFunction:
        key = name or fn.__name__
        CRONS[key] = CronSpec(
            name=key, function=fn, interval_s=interval_s, run_at_startup=run_at_startup
        )
        return fn

    return register


def load_all() -> dict[str, JobSpec]:
    """Import every module that registers jobs, then return the registry."""
    from platform_service.jobs import functions  # noqa: F401

    return JOBS
