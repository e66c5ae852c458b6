"""The onboarding state of a connected account, derived from Stripe's account fields.

A pure function of the Account object (and two facts only the service knows:
whether the platform was disconnected, and whether onboarding was ever started),
so a late or repeated webhook can never move the state anywhere the current
Stripe object does not say.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec


class OnboardingStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    ACTION_REQUIRED = "action_required"
    UNDER_REVIEW = "under_review"
    RESTRICTED = "restricted"
    ACTIVE = "active"
    REJECTED = "rejected"
    DISCONNECTED = "disconnected"


class NextAction(StrEnum):
    START_ONBOARDING = "start_onboarding"
    CONTINUE_ONBOARDING = "continue_onboarding"
    PROVIDE_INFORMATION = "provide_information"
    WAIT_FOR_REVIEW = "wait_for_review"
    CONTACT_SUPPORT = "contact_support"
    RECONNECT = "reconnect"
    NONE = "none"


class OnboardingState(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    status: OnboardingStatus
    reason: str
    next_action: NextAction
    due_fields: list[str] = msgspec.field(default_factory=list)
    deadline: datetime | None = None
    disabled_reason: str | None = None


_REVIEW_REASONS = {"under_review", "requirements.pending_verification"}


def derive_state(
    account: dict[str, Any], *, disconnected: bool = False, onboarding_started: bool = False
) -> OnboardingState:
    """Map Stripe's `details_submitted`, `charges_enabled`, `payouts_enabled` and
    `requirements` to one of eight states, with the reason and the seller's next step."""
    if disconnected:
        return OnboardingState(
            status=OnboardingStatus.DISCONNECTED,
            reason="The account disconnected from the platform (or the platform lost access).",
            next_action=NextAction.RECONNECT,
        )
    req: dict[str, Any] = account.get("requirements") or {}
    disabled = req.get("disabled_reason")
    due = _unique((req.get("past_due") or []) + (req.get("currently_due") or []))
    deadline = _ts(req.get("current_deadline"))
    pending = req.get("pending_verification") or []
    charges = bool(account.get("charges_enabled"))
    payouts = bool(account.get("payouts_enabled"))

    if disabled and str(disabled).startswith("rejected"):
        return OnboardingState(
            status=OnboardingStatus.REJECTED,
            reason=f"Stripe rejected the account ({disabled}).",
            next_action=NextAction.CONTACT_SUPPORT,
            disabled_reason=disabled,
        )
    if not account.get("details_submitted"):
        if onboarding_started:
            return OnboardingState(
                status=OnboardingStatus.IN_PROGRESS,
                reason="Onboarding has started but the seller has not submitted their details yet.",
                next_action=NextAction.CONTINUE_ONBOARDING,
                due_fields=due,
                deadline=deadline,
                disabled_reason=disabled,
            )
        return OnboardingState(
            status=OnboardingStatus.NOT_STARTED,
            reason="The seller has not started Stripe onboarding.",
            next_action=NextAction.START_ONBOARDING,
            due_fields=due,
            deadline=deadline,
            disabled_reason=disabled,
        )
    if disabled in _REVIEW_REASONS or (pending and not charges and not due):
        return OnboardingState(
            status=OnboardingStatus.UNDER_REVIEW,
            reason="Stripe is verifying the information the seller submitted.",
            next_action=NextAction.WAIT_FOR_REVIEW,
            disabled_reason=disabled,
        )
    if disabled:
        return OnboardingState(
            status=OnboardingStatus.RESTRICTED,
            reason=f"Stripe restricted the account ({disabled}).",
            next_action=NextAction.PROVIDE_INFORMATION if due else NextAction.CONTACT_SUPPORT,
            due_fields=due,
            deadline=deadline,
            disabled_reason=disabled,
        )
    if due:
        when = f" by {deadline.date().isoformat()}" if deadline else ""
        return OnboardingState(
            status=OnboardingStatus.ACTION_REQUIRED,
            reason=f"Stripe needs {len(due)} more piece(s) of information{when}.",
            next_action=NextAction.PROVIDE_INFORMATION,
            due_fields=due,
            deadline=deadline,
        )
    if charges and payouts:
        return OnboardingState(
            status=OnboardingStatus.ACTIVE,
            reason="Charges and payouts are enabled.",
            next_action=NextAction.NONE,
        )
    missing = " and ".join(n for n, on in (("charges", charges), ("payouts", payouts)) if not on)
    if charges or payouts:
        return OnboardingState(
            status=OnboardingStatus.RESTRICTED,
            reason=f"Details are submitted but {missing} are disabled.",
            next_action=NextAction.CONTACT_SUPPORT,
        )
    return OnboardingState(
        status=OnboardingStatus.UNDER_REVIEW,
        reason="Details are submitted; Stripe has not enabled charges or payouts yet.",
        next_action=NextAction.WAIT_FOR_REVIEW,
    )


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _ts(value: Any) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)
