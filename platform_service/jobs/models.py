"""Tables owned by the job system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen: Mapped[datetime]
    jobs_seen: Mapped[int] = mapped_column(default=0)
