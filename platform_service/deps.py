"""The dependencies route handlers declare, named once (Litestar's explicit style).

`app.py` provides them from the `Runtime`: `db_session` (the request's
transaction, see `db.transaction`), `session_maker` (for a service's own short
transaction), `gateway`, `after_commit`, `settings`, `public_url`,
`webhook_secrets` and `caller`. Handlers pass domain functions exactly the parts
they use; only the health probes see the whole runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_service.auth.keys import Caller
from platform_service.jobs.outbox import AfterCommit
from platform_service.runtime import Runtime
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway


@dataclass(frozen=True)
class WebhookSecrets:
    """Signing secrets of the platform endpoint and of the Connect endpoint."""

    platform: tuple[str, ...]
    connect: tuple[str, ...]


DbSession = NamedDependency[AsyncSession]
# Plain Python objects: nothing for Litestar to validate.
SessionMakerDep = SkipValidation[NamedDependency[async_sessionmaker[AsyncSession]]]
CallerDep = NamedDependency[Caller]
GatewayDep = SkipValidation[NamedDependency[StripeGateway]]
AfterCommitDep = SkipValidation[NamedDependency[AfterCommit]]
SettingsDep = SkipValidation[NamedDependency[Settings]]
PublicUrlDep = NamedDependency[str]
WebhookSecretsDep = SkipValidation[NamedDependency[WebhookSecrets]]
RuntimeDep = SkipValidation[NamedDependency[Runtime]]
