"""The dependencies route handlers declare, named once (Litestar's explicit style).

`app.py` provides them from the `Runtime`: `db_session` (the request's
transaction, see `db.transaction`), `session_maker` (for a service's own short
transaction), `gateway`, `after_commit`, `settings`, `public_url`,
`webhook_ingress` and `caller`. Handlers pass domain functions exactly the parts
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
    """Signing secrets of the platform endpoint, the Connect endpoint and the event
    destination that sends thin (v2) events."""

    platform: tuple[str, ...]
    connect: tuple[str, ...]
    thin: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebhookIngress:
    """What storing a webhook delivery needs, as one dependency.

    Litestar resolves two or more dependencies of a handler concurrently in an
    anyio task group, which cost about a sixth of a delivery's CPU on the
    busiest route the service has; one dependency is resolved inline.
    """

    session_maker: async_sessionmaker[AsyncSession]
    gateway: StripeGateway
    after_commit: AfterCommit
    secrets: WebhookSecrets
    live_mode: bool


DbSession = NamedDependency[AsyncSession]
# Plain Python objects: nothing for Litestar to validate.
SessionMakerDep = SkipValidation[NamedDependency[async_sessionmaker[AsyncSession]]]
CallerDep = NamedDependency[Caller]
GatewayDep = SkipValidation[NamedDependency[StripeGateway]]
AfterCommitDep = SkipValidation[NamedDependency[AfterCommit]]
SettingsDep = SkipValidation[NamedDependency[Settings]]
PublicUrlDep = NamedDependency[str]
WebhookIngressDep = SkipValidation[NamedDependency[WebhookIngress]]
RuntimeDep = SkipValidation[NamedDependency[Runtime]]
