"""Portal settings in bulk jobs: one PATCH body applied to many accounts' overrides.

`PortalSettingsApplier` is the portal's `bulk.appliers.BulkApplier` (matched
structurally: domains don't import `bulk/`). A patch is judged twice: on its
own at submission (`validate_portal_patch`), then against each account's
document when applied (`apply_portal_patch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.errors import ValidationFailed
from platform_service.portal.document import PortalSettingsPatch, apply_patch, overridden_paths
from platform_service.portal.effective import (
    PLACEHOLDER_NAME,
    decode_patch,
    effective_for,
    raise_first,
)
from platform_service.portal.schemas import PortalApplyResult
from platform_service.portal.settings import save_settings
from platform_service.portal.validation import validate
from platform_service.settings import Settings
from platform_service.stripe.gateway import StripeGateway

# Rules whose outcome depends on the rest of an account's document: a bulk
# patch cannot be judged on them before it meets each account.
_DEPENDENT_CODES: Final = frozenset(
    {
        "requires_subscription_updates",
        "products_required",
        "conditions_required",
        "requires_cancel",
        "requires_immediate_cancel",
        "coupon_required",
        "options_required",
        "fields_required",
        "required",
    }
)


def validate_portal_patch(patch: dict[str, Any]) -> None:
    """Check a bulk patch on its own (shape, values), before it meets any account.

    Rules that depend on the rest of an account's document (e.g. proration
    needs plan switching) are left to `apply_portal_patch`, per account.
    """
    decoded = decode_patch(patch)
    touched = overridden_paths(decoded)
    settings = effective_for(PortalSettingsPatch(), decoded, PLACEHOLDER_NAME).settings
    own = [
        issue
        for issue in validate(settings)
        if issue.code not in _DEPENDENT_CODES
        and any(
            issue.param == path or issue.param.startswith((f"{path}.", f"{path}["))
            for path in touched
        )
    ]
    raise_first(own)


async def apply_portal_patch(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    patch: dict[str, Any],
    *,
    idempotency_key: str,
    actor: str,
    dry_run: bool = False,
) -> PortalApplyResult:
    """Apply a PATCH body to one account's overrides, like `PATCH .../portal-settings`.

    Raises ValidationFailed (with `param`) for a patch the account's document
    cannot take, NotFound for an unknown account and StripeGatewayError when
    the sync fails (the new version and the `out_of_sync` state are then in
    `session`). `idempotency_key` is folded into the Stripe write's key, which
    also carries the content hash and the settings version, so a re-run item
    repeats no write and loses none; a re-run of an item whose version was
    saved but not synced finds `changed=False` and still completes the sync.
    """
    decoded = decode_patch(patch)
    saved = await save_settings(
        session,
        gateway,
        account_id,
        lambda current: apply_patch(current, decoded),
        actor=actor,
        action="portal_settings.updated",
        caller_key=idempotency_key,
        dry_run=dry_run,
    )
    return saved.result


class PortalSettingsApplier:
    """The portal's part in bulk jobs of kind `portal_settings`."""

    kind = "portal_settings"

    async def prepare(
        self,
        session: AsyncSession,
        gateway: StripeGateway,
        settings: Settings,
        patch: dict[str, Any],
        files: Mapping[str, bytes],
    ) -> dict[str, Any]:
        """The patch as given: portal settings take no files."""
        if files:
            raise ValidationFailed("files are only for branding jobs.", param="files")
        return patch

    def validate(self, patch: dict[str, Any]) -> None:
        """The patch's own problems (`validate_portal_patch`)."""
        validate_portal_patch(patch)

    # Applying is the domain's own patch function, in the bulk item's session,
    # with the job's idempotency key.
    apply = staticmethod(apply_portal_patch)
