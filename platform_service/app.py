"""The Litestar app factory: plugins, routes, dependencies, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from platform_service import __version__
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.routes import AccountController, OnboardingRefreshController
from platform_service.auth.guard import api_key_middleware, provide_caller
from platform_service.auth.routes import AuditController
from platform_service.branding.routes import branding_router
from platform_service.bulk.routes import BulkJobController
from platform_service.db.transaction import request_transactions
from platform_service.deps import WebhookIngress, WebhookSecrets
from platform_service.docs import docs_assets_router, docs_render_plugin
from platform_service.errors import exception_handlers
from platform_service.health import HealthController
from platform_service.inputs import ApiRequest, refuse_control_characters
from platform_service.jobs.catalog import CRONS, JOBS
from platform_service.observability import configure_logging, request_context
from platform_service.openapi import API_DESCRIPTION
from platform_service.portal.preview import TEMPLATES as PORTAL_TEMPLATES
from platform_service.portal.preview import PortalPreviewController
from platform_service.portal.routes import AccountPortalController, PlatformPortalSettingsController
from platform_service.runtime import Runtime
from platform_service.settings import Settings, load_settings
from platform_service.web.errors import console_aware
from platform_service.web.routes import TEMPLATES as WEB_TEMPLATES
from platform_service.web.routes import web_router
from platform_service.webhooks.routes import StripeWebhookController, WebhookEventController


async def _import_demo_accounts(runtime: Runtime) -> None:
    """The embedded sandbox starts with demo sellers: bring them in on the first start."""
    from sqlalchemy import func, select

    from platform_service.accounts.models import ConnectedAccount
    from platform_service.accounts.service import start_import

    async with runtime.session() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(ConnectedAccount)):
            return
        await start_import(
            session, runtime.after_commit, charge_model=ChargeModel.DIRECT, actor="system:demo"
        )


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    public_url: str | None = None,
) -> Litestar:
    """Build the app; it owns `runtime` (closing it on shutdown) unless one is passed in."""
    settings = settings or (runtime.settings if runtime else load_settings())
    owns_runtime = runtime is None
    rt = runtime or Runtime.build(settings, role="api", public_url=public_url)
    configure_logging(settings.log_level, json=settings.log_format == "json")

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if rt.queue is None:
            await rt.start_queue(JOBS, CRONS)
        if rt.sandbox is not None and rt.settings.sandbox_demo:
            await _import_demo_accounts(rt)
        try:
            yield
        finally:
            if owns_runtime:
                await rt.aclose()

    def value(get: Any) -> Provide:
        # Read at request time, so a part replaced on the runtime (tests) is seen.
        return Provide(get, sync_to_thread=False)

    return Litestar(
        route_handlers=[
            HealthController,
            AuditController,
            AccountController,
            OnboardingRefreshController,
            StripeWebhookController,
            WebhookEventController,
            PlatformPortalSettingsController,
            AccountPortalController,
            branding_router(settings.max_upload_bytes),
            PortalPreviewController,
            BulkJobController,
            web_router(),
            docs_assets_router(),
        ],
        plugins=[SQLAlchemyPlugin(config=request_transactions(rt.engine))],
        # Outermost first: every request gets its id before authentication logs anything.
        middleware=[request_context, api_key_middleware(), refuse_control_characters],
        # Its JSON bodies are checked (depth, control characters) before a handler sees them.
        request_class=ApiRequest,
        dependencies={
            "runtime": value(lambda: rt),
            "session_maker": value(lambda: rt.session_maker),
            "gateway": value(lambda: rt.gateway),
            "after_commit": value(lambda: rt.after_commit),
            "settings": value(lambda: rt.settings),
            "public_url": value(lambda: rt.public_url),
            "webhook_ingress": value(
                lambda: WebhookIngress(
                    rt.session_maker,
                    rt.gateway,
                    rt.after_commit,
                    WebhookSecrets(
                        rt.webhook_secrets, rt.connect_webhook_secrets, rt.thin_webhook_secrets
                    ),
                    rt.settings.stripe_live_mode,
                )
            ),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        exception_handlers=console_aware(exception_handlers()),
        # One template engine for server-rendered pages; each domain adds its directory.
        template_config=TemplateConfig(
            directory=[PORTAL_TEMPLATES, WEB_TEMPLATES], engine=JinjaTemplateEngine
        ),
        openapi_config=OpenAPIConfig(
            title="platform_service",
            version=__version__,
            description=API_DESCRIPTION,
            path="/schema",
            render_plugins=[docs_render_plugin()],
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An admin key, or a seller key bound to one connected account.",
                    )
                }
            ),
            # Operations that need no key (health, Stripe's webhooks) override it with `[{}]`.
            security=[{"ApiKey": []}],
            # A handler's docstring is its operation's description unless the decorator gives one.
            use_handler_docstrings=True,
        ),
        lifespan=[lifespan],
        # Logging is `configure_logging`'s: Litestar's default config would replace it.
        logging_config=None,
        state=State({"session_maker": rt.session_maker}),
    )
