"""Tables owned by the job system."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.types import JsonB
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base, BigIntPK, utcnow


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen: Mapped[datetime]
    jobs_seen: Mapped[int] = mapped_column(default=0)


class OutboxJob(Base):
    """A job asked for in a transaction, waiting for that transaction to commit."""

    __tablename__ = "job_outbox"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    function: Mapped[str] = mapped_column(String(100))
    args: Mapped[list[Any]] = mapped_column(JsonB, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
