"""Imports the modules whose jobs the worker runs (each registers itself)."""

from platform_service.accounts import jobs as account_jobs
from platform_service.bulk import jobs as bulk_jobs
from platform_service.jobs import maintenance, outbox
from platform_service.portal import jobs as portal_jobs
from platform_service.webhooks import jobs as webhook_jobs
from platform_service.webhooks import reconcile as webhook_reconcile

__all__ = [
    "account_jobs",
    "bulk_jobs",
    "maintenance",
    "outbox",
    "portal_jobs",
    "webhook_jobs",
    "webhook_reconcile",
]
