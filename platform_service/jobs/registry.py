"""What a job or a periodic job is, as the queues and the worker run it.

A job takes ids, not payloads, and may run more than once (arq's own warning):
it loads its rows, exits if the work is already done, and stamps completion in
the transaction that does the work. The list of jobs is `jobs.catalog`.
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
    """A periodic job; `interval_s` must divide a day into whole minutes or seconds."""

    name: str
    function: JobFunction
    interval_s: int
    run_at_startup: bool = False
