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
    charge_model: ChargeModel | None = None
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")] | None = None
    status: OnboardingStatus | None = None
    all: bool = False


class Target(Input, kw_only=True):
    """Exactly one of `account_ids` or `filter`."""

    account_ids: (
        Annotated[list[AccountId], msgspec.Meta(min_length=1, max_length=100_000)] | None
    ) = None
    filter: TargetFilter | None = None


class Canary(Input, kw_only=True):
    """Apply to a first slice, then pause for approval."""

    count: Annotated[int, msgspec.Meta(ge=1)] | None = None
    percent: Annotated[float, msgspec.Meta(gt=0, lt=100)] | None = None


class BulkJobCreate(Input, kw_only=True):
    kind: BulkKind
    target: Target
    patch: dict[str, Any]
    dry_run: bool = False
    canary: Canary | None = None
    # Images for a branding patch, base64: uploaded to Stripe once for the whole job.
    files: dict[Literal["logo", "icon"], str] | None = None


class CanaryOut(Output, kw_only=True):
    size: int
    approved: bool


class BulkJobOut(Output, kw_only=True):
    id: str
    object: str = "bulk_job"
    kind: BulkKind
    status: str
    dry_run: bool
    total: int
    succeeded: int
    failed: int
    skipped: int
    pending: int
    rate_per_s: float
    eta_s: float | None = None
    canary: CanaryOut | None = None
    patch: dict[str, Any]
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class BulkItemOut(Output, kw_only=True):
    id: int
    account_id: str
    status: str
    attempts: int
    canary: bool = False
    error_code: str | None = None
    error_message: str | None = None
    error_param: str | None = None
    diff: dict[str, Any] | None = None
    finished_at: datetime | None = None


class BulkItemList(Output, kw_only=True):
    object: str = "list"
    data: list[BulkItemOut]
    has_more: bool
