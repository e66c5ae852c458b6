"""Every job and periodic job the queues and the worker run, named in one place.

Domains write plain job functions `fn(ctx, *ids)`; this list, beside the worker,
is what registers them (so no domain imports the job system's registry, and the
runtime imports no domain).
"""

from __future__ import annotations

from platform_service.accounts import jobs as accounts
from platform_service.branding import platform as platform_branding
from platform_service.bulk import jobs as bulk
from platform_service.jobs import maintenance, outbox
from platform_service.jobs.registry import CronSpec, JobSpec
from platform_service.portal import jobs as portal
from platform_service.webhooks import jobs as webhooks
from platform_service.webhooks import reconcile

JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("worker_heartbeat", maintenance.worker_heartbeat, max_tries=3, timeout_s=30),
        JobSpec("outbox_sweep", outbox.outbox_sweep, max_tries=3, timeout_s=120),
        JobSpec(
            "import_accounts",
            accounts.import_accounts,
            max_tries=accounts.IMPORT_MAX_TRIES,
            timeout_s=3600,
        ),
        JobSpec("sync_account", accounts.sync_account, max_tries=6, timeout_s=120),
        JobSpec(
            "ensure_portal_configuration",
            portal.ensure_portal_configuration,
            max_tries=portal.MAX_TRIES,
            timeout_s=120,
        ),
        JobSpec(
            "sync_portal_settings",
            portal.sync_portal_settings,
            max_tries=portal.MAX_TRIES,
            timeout_s=120,
        ),
        JobSpec(
            "resync_portal_settings", portal.resync_portal_settings, max_tries=3, timeout_s=3600
        ),
        JobSpec("bulk_run", bulk.bulk_run, max_tries=5, timeout_s=120),
        JobSpec("bulk_lane", bulk.bulk_lane, max_tries=3, timeout_s=900),
        JobSpec("bulk_reaper", bulk.bulk_reaper, max_tries=3, timeout_s=60),
        JobSpec(
            "process_webhook_event",
            webhooks.process_webhook_event,
            max_tries=webhooks.MAX_TRIES,
            timeout_s=120,
        ),
        JobSpec("sweep_webhook_events", webhooks.sweep_webhook_events, max_tries=1, timeout_s=120),
        # arq sizes its in-progress lock by the largest timeout; bounded runs need far less.
        JobSpec("reconcile_stripe", reconcile.reconcile_stripe, max_tries=1, timeout_s=600),
    )
}

CRONS: dict[str, CronSpec] = {
    spec.name: spec
    for spec in (
        CronSpec("worker_heartbeat", maintenance.worker_heartbeat, interval_s=60),
        CronSpec("outbox_sweep", outbox.outbox_sweep, interval_s=30),
        CronSpec("bulk_reaper", bulk.bulk_reaper, interval_s=15, run_at_startup=True),
        CronSpec("sweep_webhook_events", webhooks.sweep_webhook_events, interval_s=60),
        CronSpec("reconcile_stripe", reconcile.reconcile_stripe, interval_s=reconcile.CRON_CHECK_S),
        # Cheap unless stale: one row read; Stripe is asked at most hourly (and at startup).
        CronSpec(
            "read_platform_branding",
            platform_branding.read_platform_branding,
            interval_s=300,
            run_at_startup=True,
        ),
    )
}
