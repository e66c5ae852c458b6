"""What a bulk job applies to one account, per kind: the domains' own patch functions.

Each kind pairs a submission-time check of the patch with the function that
applies it to one account (computing the diff, writing to Stripe with the
idempotency key the job derives, recording the change).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.errors import ValidationFailed
from platform_service.runtime import Runtime


class ApplyResult(Protocol):
    changed: bool
    diff: dict[str, Any]


Apply = Callable[..., Awaitable[ApplyResult]]


@dataclass(frozen=True)
class Applier:
    validate: Callable[[dict[str, Any]], None]
    apply: Apply


def applier(kind: str) -> Applier:
    """The patch functions for `kind` (imported lazily: domains don't import bulk/)."""
    if kind == "branding":
        from platform_service.branding import service as branding

        def validate_branding(patch: dict[str, Any]) -> None:
            issues = branding.validate_branding_patch(patch)
            if issues:
                param, message = issues[0]
                raise ValidationFailed(message, param=f"patch.{param}")

        return Applier(validate=validate_branding, apply=branding.apply_branding_patch)
    if kind == "portal_settings":
        from platform_service.portal import service as portal

        def validate_portal(patch: dict[str, Any]) -> None:
            try:
                portal.validate_portal_patch(patch)
            except ValidationFailed as exc:
                exc.param = f"patch.{exc.param}" if exc.param else "patch"
                raise

        return Applier(validate=validate_portal, apply=portal.apply_portal_patch)
    raise LookupError(kind)


async def apply_one(
    kind: str,
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    patch: dict[str, Any],
    *,
    idempotency_key: str,
    actor: str,
    dry_run: bool,
) -> ApplyResult:
    return await applier(kind).apply(
        session,
        runtime,
        account_id,
        patch,
        idempotency_key=idempotency_key,
        actor=actor,
        dry_run=dry_run,
    )
