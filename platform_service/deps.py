"""The dependencies route handlers declare, named once (Litestar's explicit style).

`app.py` provides them: `db_session` (the request's transaction, committed by the
autocommit handler), `runtime`, `gateway`, `queue` and `caller`.
"""

from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.keys import Caller
from platform_service.jobs.queue import JobQueue
from platform_service.runtime import Runtime
from platform_service.stripe.gateway import StripeGateway

DbSession = NamedDependency[AsyncSession]
RuntimeDep = NamedDependency[Runtime]
CallerDep = NamedDependency[Caller]
GatewayDep = NamedDependency[StripeGateway]
# A Protocol: nothing for Litestar to validate.
QueueDep = SkipValidation[NamedDependency[JobQueue]]
