"""API shapes of bulk jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.onboarding import OnboardingStatus
from platform_service.schemas import Input, Output

BulkKind = Literal["branding", "portal_settings"]
AccountId = Annotated[str, msgspec.Meta(pattern=r"^acct_[A-Za-z0-9]+$", max_length=64)]


class TargetFilter(Input, kw_only=True):
    """Accounts matching every filter given; `all: true` for every account."""

    charge_model: Annotated[
        ChargeModel | None, msgspec.Meta(description="Only accounts with this charge model.")
    ] = None
    # Descriptions sit beside the constraints (not around the union): the document keeps both.
    country: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^[A-Z]{2}$", description="Only accounts in this country.", examples=["FR"]
            ),
        ]
        | None
    ) = None
    status: Annotated[
        OnboardingStatus | None, msgspec.Meta(description="Only accounts in this onboarding state.")
    ] = None
    all: Annotated[
        bool, msgspec.Meta(description="Every connected account (no other filter needed).")
    ] = False


class Target(Input, kw_only=True):
    """Exactly one of `account_ids` or `filter`."""

    account_ids: (
        Annotated[
            list[AccountId],
            msgspec.Meta(
                min_length=1,
                max_length=100_000,
                description="These accounts, by Stripe id.",
                examples=[["acct_1Nv0FGQ9RKHgCVdK", "acct_1Nv0FHR2SLIhDWeL"]],
            ),
        ]
        | None
    ) = None
    filter: TargetFilter | None = None


class Canary(Input, kw_only=True):
    """Apply to a first slice, then pause for approval."""

    count: (
        Annotated[int, msgspec.Meta(ge=1, description="The first slice as a number of accounts.")]
        | None
    ) = None
    percent: (
        Annotated[
            float,
            msgspec.Meta(
                gt=0, lt=100, description="The first slice as a share of the target, in percent."
            ),
        ]
        | None
    ) = None


class BulkJobCreate(Input, kw_only=True):
    """One change to apply to many accounts, paced under Stripe's rate limit."""

    kind: Annotated[
        BulkKind,
        msgspec.Meta(description="What the patch changes: branding or portal settings."),
    ]
    target: Annotated[Target, msgspec.Meta(description="The accounts: a list of ids, or a filter.")]
    patch: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description="The change, shaped like the account's branding PATCH or portal "
            "settings PATCH body for `kind`.",
            examples=[{"button_color": "#0A2540", "border_style": "pill"}],
        ),
    ]
    dry_run: Annotated[
        bool, msgspec.Meta(description="Compute each account's diff; change nothing.")
    ] = False
    canary: Canary | None = None
    # Images for a branding patch, base64: uploaded to Stripe once for the whole job.
    files: Annotated[
        dict[Literal["logo", "icon"], str] | None,
        msgspec.Meta(
            description="Images for a branding job, base64 (PNG or JPEG): uploaded once and "
            "set on every target account."
        ),
    ] = None


class CanaryOut(Output, kw_only=True):
    """The canary slice: applied first, then the job waits for `resume`."""

    size: Annotated[int, msgspec.Meta(description="Accounts in the first slice.")]
    approved: Annotated[bool, msgspec.Meta(description="The rest was approved (resumed).")]


class BulkJobOut(Output, kw_only=True):
    """A bulk job and its progress."""

    id: str
    object: str = "bulk_job"
    kind: BulkKind
    status: Annotated[
        str,
        msgspec.Meta(
            description="`queued`, `running`, `paused` (canary awaiting approval), "
            "`succeeded`, `partially_failed`, `failed` or `cancelled`."
        ),
    ]
    dry_run: bool
    total: Annotated[int, msgspec.Meta(description="Target accounts (items).")]
    succeeded: Annotated[int, msgspec.Meta(description="Items applied.")]
    failed: Annotated[int, msgspec.Meta(description="Items Stripe refused, or that failed.")]
    skipped: Annotated[int, msgspec.Meta(description="Items with nothing to do, or cancelled.")]
    pending: Annotated[int, msgspec.Meta(description="Items not yet done.")]
    rate_per_s: Annotated[float, msgspec.Meta(description="Items done per second, recently.")]
    eta_s: Annotated[
        float | None, msgspec.Meta(description="Estimated seconds left at the current rate.")
    ] = None
    canary: CanaryOut | None = None
    patch: Annotated[dict[str, Any], msgspec.Meta(description="The change being applied.")]
    error: Annotated[str | None, msgspec.Meta(description="Why the whole job failed.")] = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class BulkItemOut(Output, kw_only=True):
    """One target account of a bulk job and its result."""

    id: Annotated[int, msgspec.Meta(description="The item's position in the job.")]
    account_id: str
    status: Annotated[
        str, msgspec.Meta(description="`pending`, `running`, `succeeded`, `failed` or `skipped`.")
    ]
    attempts: Annotated[int, msgspec.Meta(description="Tries so far (retries after 429/5xx).")]
    canary: Annotated[bool, msgspec.Meta(description="Part of the canary slice.")] = False
    error_code: Annotated[
        str | None, msgspec.Meta(description="Stripe's (or the service's) error code.")
    ] = None
    error_message: str | None = None
    error_param: Annotated[
        str | None, msgspec.Meta(description="The patch field the error is about.")
    ] = None
    diff: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="What changed (or, in a dry run, would): field -> before/after."),
    ] = None
    finished_at: datetime | None = None


class BulkItemList(Output, kw_only=True):
    """One page of a bulk job's items, in order."""

    object: str = "list"
    data: list[BulkItemOut]
    has_more: Annotated[
        bool, msgspec.Meta(description="More pages follow: pass the last `id` as `starting_after`.")
    ]
