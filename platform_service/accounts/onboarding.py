"""Onboarding a connected account: its state, and the hosted links that move it on.

The state is a pure function of Stripe's Account object (and two facts only the
service knows: whether the platform was disconnected, and whether onboarding was
ever started), so a late or repeated webhook can never move the state anywhere
the current Stripe object does not say.

A hosted link is single-use and expires within minutes. Unless the platform
gives its own `refresh_url`, Stripe sends an expired link's browser back to this
service (`/accounts/{id}/onboarding/refresh?token=…`), which mints a fresh link
from a stored refresh token, so an expired link never strands the seller.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.models import OnboardingRefreshToken
from platform_service.auth import audit
from platform_service.db.base import utcnow
from platform_service.errors import Conflict, NotFound, ValidationFailed
from platform_service.stripe.gateway import StripeGateway
from platform_service.stripe.idempotency import idempotency_key
from platform_service.urls import check_url


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


# -- hosted onboarding links ---------------------------------------------------

REFRESH_TOKEN_TTL = timedelta(days=7)


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _refresh_url(public_url: str, account_id: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/accounts/{account_id}/onboarding/refresh?token={token}"


async def create_onboarding_link(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    *,
    link_type: str,
    return_url: str,
    refresh_url: str | None,
    public_url: str,
    actor: str,
    nonce: str | None = None,
) -> tuple[str, datetime]:
    """Mint a hosted onboarding (or update) link; by default its refresh URL is this service's."""
    # The accounts service derives its state with this module: importing it at the
    # top would make the two modules import each other.
    from platform_service.accounts import service, stripe_api

    row = await service.lock_account_for_write(session, account_id)
    for name, value in (("return_url", return_url), ("refresh_url", refresh_url)):
        problem = check_url(value) if value is not None else None
        if problem:
            raise ValidationFailed(f"{name}: {problem[1]}", code=problem[0], param=name)
    if row.disconnected_at is not None:
        raise Conflict(
            "The account is disconnected from the platform.", code="account_disconnected"
        )
    stripe_type: Literal["account_onboarding", "account_update"] = (
        "account_onboarding" if link_type == "onboarding" else "account_update"
    )
    if stripe_type == "account_update" and row.account_kind != "custom":
        raise Conflict(
            "Update links exist only for accounts whose requirements the platform collects "
            "(account_kind=custom); send type=onboarding instead.",
            code="update_link_unsupported",
            param="type",
        )
    if refresh_url is None:
        raw = secrets.token_urlsafe(24)
        session.add(
            OnboardingRefreshToken(
                token_hash=_hash_token(raw),
                account_id=account_id,
                link_type=link_type,
                return_url=return_url,
                expires_at=utcnow() + REFRESH_TOKEN_TTL,
            )
        )
        refresh_url = _refresh_url(public_url, account_id, raw)
    url, expires = await stripe_api.create_link(
        gateway,
        service.api_of(row),
        {
            "account": account_id,
            "type": stripe_type,
            "return_url": return_url,
            "refresh_url": refresh_url,
        },
        # Each request mints its own single-use link; the nonce is fixed per request,
        # so the SDK's own retries of this call reuse the key.
        idempotency_key=idempotency_key(
            "account_links.create", account_id, nonce or secrets.token_hex(8)
        ),
    )
    await service.mark_onboarding_started(session, row, actor=actor)
    await audit.record(
        session,
        actor=actor,
        action="account.onboarding_link_created",
        account_id=row.id,
        after={"type": link_type},
    )
    return url, expires


async def refresh_onboarding_link(
    session: AsyncSession, gateway: StripeGateway, account_id: str, token: str, *, public_url: str
) -> str:
    """Mint a fresh link from a refresh token (the seller's browser followed Stripe's refresh_url)."""
    row = await session.get(OnboardingRefreshToken, _hash_token(token))
    if row is None or row.account_id != account_id:
        raise NotFound(
            "This onboarding link is not valid.", code="refresh_token_invalid", param="token"
        )
    if row.expires_at < utcnow():
        raise NotFound(
            "This onboarding link has expired; ask the platform for a new one.",
            code="refresh_token_expired",
            param="token",
        )
    url, _ = await create_onboarding_link(
        session,
        gateway,
        account_id,
        link_type=row.link_type,
        return_url=row.return_url,
        refresh_url=_refresh_url(public_url, account_id, token),
        public_url=public_url,
        actor="seller:refresh-link",
    )
    return url
