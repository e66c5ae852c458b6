"""Imports every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from platform_service.accounts import models as account_models
from platform_service.auth import models as auth_models
from platform_service.branding import models as branding_models
from platform_service.bulk import models as bulk_models
from platform_service.db.base import Base
from platform_service.jobs import models as job_models
from platform_service.portal import models as portal_models
from platform_service.webhooks import models as webhook_models

__all__ = [
    "Base",
    "account_models",
    "auth_models",
    "branding_models",
    "bulk_models",
    "job_models",
    "portal_models",
    "webhook_models",
]
