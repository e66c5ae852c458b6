"""The onboarding state machine: every state from Stripe's account fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_service.accounts.onboarding import NextAction, OnboardingStatus, derive_state


def acct(
    *,
    submitted: bool = True,
    charges: bool = True,
    payouts: bool = True,
    due: list[str] | None = None,
    past_due: list[str] | None = None,
    pending: list[str] | None = None,
    disabled: str | None = None,
    deadline: int | None = None,
) -> dict[str, Any]:
    return {
        "details_submitted": submitted,
        "charges_enabled": charges,
        "payouts_enabled": payouts,
        "requirements": {
            "currently_due": due or [],
            "past_due": past_due or [],
            "pending_verification": pending or [],
            "disabled_reason": disabled,
            "current_deadline": deadline,
        },
    }


@pytest.mark.parametrize(
    ("account", "kwargs", "status", "action"),
    [
        (
            acct(submitted=False, charges=False, payouts=False, due=["email"]),
            {},
            "not_started",
            "start_onboarding",
        ),
        (
            acct(submitted=False, charges=False, payouts=False),
            {"onboarding_started": True},
            "in_progress",
            "continue_onboarding",
        ),
        (
            acct(
                charges=True,
                payouts=False,
                due=["individual.verification.document"],
                deadline=1_900_000_000,
            ),
            {},
            "action_required",
            "provide_information",
        ),
        (
            acct(
                charges=False,
                payouts=False,
                pending=["individual.id_number"],
                disabled="under_review",
            ),
            {},
            "under_review",
            "wait_for_review",
        ),
        (
            acct(
                charges=False,
                payouts=False,
                due=["external_account"],
                past_due=["external_account"],
                disabled="requirements.past_due",
            ),
            {},
            "restricted",
            "provide_information",
        ),
        (
            acct(charges=False, payouts=False, disabled="platform_paused"),
            {},
            "restricted",
            "contact_support",
        ),
        (acct(), {}, "active", "none"),
        (
            acct(charges=False, payouts=False, disabled="rejected.fraud"),
            {},
            "rejected",
            "contact_support",
        ),
        (acct(), {"disconnected": True}, "disconnected", "reconnect"),
        (acct(charges=False, payouts=False), {}, "under_review", "wait_for_review"),
        (acct(charges=True, payouts=False), {}, "restricted", "contact_support"),
    ],
)
def test_each_state(
    account: dict[str, Any], kwargs: dict[str, bool], status: str, action: str
) -> None:
    state = derive_state(account, **kwargs)
    assert state.status == OnboardingStatus(status)
    assert state.next_action == NextAction(action)
    assert state.reason


def test_action_required_carries_fields_and_deadline() -> None:
    state = derive_state(
        acct(payouts=False, due=["a", "b"], past_due=["a"], deadline=1_900_000_000)
    )
    assert state.due_fields == ["a", "b"]
    assert state.deadline is not None
    assert state.deadline.year == 2030


def test_restricted_carries_stripes_reason() -> None:
    state = derive_state(acct(charges=False, disabled="requirements.past_due", past_due=["x"]))
    assert state.disabled_reason == "requirements.past_due"


@given(
    submitted=st.booleans(),
    charges=st.booleans(),
    payouts=st.booleans(),
    due=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    pending=st.lists(st.sampled_from(["x", "y"]), max_size=2),
    disabled=st.sampled_from(
        [None, "under_review", "requirements.past_due", "rejected.other", "listed", "other"]
    ),
    started=st.booleans(),
    disconnected=st.booleans(),
)
def test_total_and_consistent(
    submitted: bool,
    charges: bool,
    payouts: bool,
    due: list[str],
    pending: list[str],
    disabled: str | None,
    started: bool,
    disconnected: bool,
) -> None:
    account = acct(
        submitted=submitted,
        charges=charges,
        payouts=payouts,
        due=due,
        pending=pending,
        disabled=disabled,
    )
    state = derive_state(account, onboarding_started=started, disconnected=disconnected)
    if disconnected:
        assert state.status is OnboardingStatus.DISCONNECTED
    elif disabled and disabled.startswith("rejected"):
        assert state.status is OnboardingStatus.REJECTED
    elif state.status is OnboardingStatus.ACTIVE:
        assert charges and payouts and submitted and not due and not disabled
    if state.status is OnboardingStatus.ACTION_REQUIRED:
        assert state.due_fields
    # The same inputs always give the same state: nothing but the Stripe object decides.
    assert derive_state(account, onboarding_started=started, disconnected=disconnected) == state
