"""What a bulk job applies to one account: one protocol, implemented by each domain.

`branding.applier.BrandingApplier` and `portal.applier.PortalSettingsApplier`
satisfy `BulkApplier` structurally (domains don't import `bulk/`); `APPLIERS`
maps a job's `kind` to its applier, so nothing here branches on kind strings.
Every problem a patch has is a `ValidationFailed`: an applier names the field
(`button_color`, or `files.logo` for an upload) and `named_in_patch` puts it
where it is in the job's request (`patch.button_color`), at submission and on
apply alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.errors import ValidationFailed
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway


class ApplyResult(Protocol):
    @property
    def changed(self) -> bool: ...

    @property
    def diff(self) -> Mapping[str, Any]: ...


class BulkApplier(Protocol):
    """A domain's part in bulk jobs of one kind."""

    kind: str

    async def prepare(
        self,
        session: AsyncSession,
        gateway: StripeGateway,
        settings: Settings,
        patch: dict[str, Any],
        files: Mapping[str, bytes],
    ) -> dict[str, Any]:
        """The patch to store, once, at submission: files uploaded and put in it."""
        ...

    def validate(self, patch: dict[str, Any]) -> None:
        """Check the patch on its own (no account yet): ValidationFailed with `param`."""
        ...

    async def apply(
        self,
        session: AsyncSession,
        gateway: StripeGateway,
        account_id: str,
        patch: dict[str, Any],
        *,
        idempotency_key: str,
        actor: str,
        dry_run: bool,
    ) -> ApplyResult:
        """Apply the patch to one account in `session` (Stripe write keyed by `idempotency_key`)."""
        ...


def appliers() -> dict[str, BulkApplier]:
    """Every kind a bulk job can be, with its applier."""
    from platform_service.branding.applier import BrandingApplier
    from platform_service.portal.applier import PortalSettingsApplier

    found: list[BulkApplier] = [BrandingApplier(), PortalSettingsApplier()]
    return {a.kind: a for a in found}


@contextmanager
def named_in_patch() -> Iterator[None]:
    """Name an applier's problem where it sits in the job's request (`patch.<field>`)."""
    try:
        yield
    except ValidationFailed as exc:
        if not (exc.param or "").startswith(("patch", "files")):
            exc.param = f"patch.{exc.param}" if exc.param else "patch"
        raise
