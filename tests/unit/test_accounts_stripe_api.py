"""The one account model over Accounts v1 and v2: params out, Account objects in.

Every v2 request built here is checked against the SDK's v2 params TypedDicts (as
Stripe would check it); every v2 Account shape is read back into the v1 fields the
onboarding state machine and branding read, so both APIs reach the same states.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe.params.v2.core import AccountCreateParams as V2Create
from stripe.params.v2.core import AccountLinkCreateParams as V2Link
from stripe.params.v2.core import AccountUpdateParams as V2Update

from platform_service.accounts.onboarding import OnboardingStatus, derive_state
from platform_service.accounts.service import CONTROLLERS
from platform_service.accounts.stripe_api import (
    v1_shape,
    v2_create_params,
    v2_link_params,
    v2_update_params,
)
from tests.unit.stripe_param_types import check_params

COLOR = st.from_regex(r"#[0-9A-F]{6}", fullmatch=True)
FILE = st.from_regex(r"file_[A-Za-z0-9]{8,24}", fullmatch=True)


@pytest.mark.parametrize("kind", sorted(CONTROLLERS))
def test_create_params_are_valid_v2_and_keep_what_v1_asked(kind: str) -> None:
    params = v2_create_params(
        {
            "country": "FR",
            "email": "owner@shop.example",
            "business_profile": {"name": "Shop"},
            "controller": CONTROLLERS[kind],  # type: ignore[typeddict-item]
            "capabilities": {"card_payments": {"requested": True}},
            "metadata": {"platform_external_ref": "ref-1"},
        }
    )
    assert check_params(params, V2Create) == []
    assert params["identity"] == {"country": "fr"}
    assert params["contact_email"] == "owner@shop.example"
    assert params["display_name"] == "Shop"
    assert params["metadata"] == {"platform_external_ref": "ref-1"}
    assert params["dashboard"] == CONTROLLERS[kind]["stripe_dashboard"]["type"]
    configuration = params["configuration"]
    assert configuration["merchant"]["capabilities"]["card_payments"] == {"requested": True}
    # Read back, the v2 account is the same kind of account the v1 one would be.
    echoed = {
        "id": "acct_1",
        "dashboard": params["dashboard"],
        "defaults": {
            "responsibilities": {
                **params["defaults"]["responsibilities"],
                "requirements_collector": CONTROLLERS[kind]["requirement_collection"],
            }
        },
    }
    controller = v1_shape(echoed)["controller"]
    assert controller["stripe_dashboard"] == CONTROLLERS[kind]["stripe_dashboard"]
    assert controller["fees"] == CONTROLLERS[kind]["fees"]
    assert controller["losses"] == CONTROLLERS[kind]["losses"]


@given(
    branding=st.fixed_dictionaries(
        {},
        optional={
            "icon": FILE,
            "logo": FILE,
            "primary_color": COLOR,
            "secondary_color": COLOR,
        },
    ),
    name=st.none() | st.text(min_size=1, max_size=40),
    email=st.none() | st.emails(),
)
def test_every_v1_write_the_service_makes_maps_to_a_valid_v2_update(
    branding: dict[str, str], name: str | None, email: str | None
) -> None:
    v1: dict[str, Any] = {}
    if branding:
        v1["settings"] = {"branding": branding}
    if name is not None:
        v1["business_profile"] = {"name": name}
    if email is not None:
        v1["email"] = email
    v2 = v2_update_params(v1)  # type: ignore[arg-type]
    assert check_params(v2, V2Update) == []
    if branding:
        assert v2["configuration"]["merchant"]["branding"] == branding
    assert v2.get("display_name") == name
    assert v2.get("contact_email") == email
    # What Stripe answers (v2) reads back as what was written (v1 shape).
    back = v1_shape(
        {
            "id": "acct_1",
            "display_name": name,
            "contact_email": email,
            "configuration": {"merchant": {"branding": branding}},
        }
    )
    assert {k: v for k, v in back["settings"]["branding"].items() if v is not None} == branding
    assert back["business_profile"]["name"] == name
    assert back["email"] == email


@pytest.mark.parametrize(
    "params",
    [
        {"settings": {"payments": {"statement_descriptor": "X"}}},
        {"business_profile": {"url": "https://x.example"}},
        {"tos_acceptance": {"date": 1}},
    ],
)
def test_a_write_with_no_v2_mapping_is_refused_not_dropped(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="no v2 mapping"):
        v2_update_params(params)  # type: ignore[arg-type]


@pytest.mark.parametrize("link_type", ["account_onboarding", "account_update"])
def test_link_params_are_valid_v2(link_type: str) -> None:
    params = v2_link_params(
        {
            "account": "acct_1",
            "type": link_type,
            "refresh_url": "https://svc.example/refresh",
            "return_url": "https://platform.example/back",
        }
    )
    assert check_params(params, V2Link) == []
    assert params["use_case"] == {
        "type": link_type,
        link_type: {
            "refresh_url": "https://svc.example/refresh",
            "return_url": "https://platform.example/back",
        },
    }


def entry(name: str, status: str, *, waiting: str = "user") -> dict[str, Any]:
    return {
        "awaiting_action_from": waiting,
        "description": name,
        "errors": [],
        "impact": {"restricts_capabilities": []},
        "minimum_deadline": {"status": status},
        "requested_reasons": [{"code": "routine_onboarding"}],
    }


def v2_account(
    *,
    card: str,
    details: list[str] | None = None,
    payouts: str = "active",
    entries: list[dict[str, Any]] | None = None,
    submitted: bool = True,
    deadline: str | None = None,
) -> dict[str, Any]:
    return {
        "id": "acct_1",
        "object": "v2.core.account",
        "identity": {
            "country": "us",
            "attestations": {
                "terms_of_service": {
                    "account": {"date": "2026-12-08T10:00:00.000Z" if submitted else None}
                }
            },
        },
        "configuration": {
            "merchant": {
                "applied": True,
                "capabilities": {
                    "card_payments": {
                        "status": card,
                        "status_details": [
                            {"code": code, "resolution": "provide_info"} for code in details or []
                        ],
                    },
                    "stripe_balance": {"payouts": {"status": payouts, "status_details": []}},
                },
            }
        },
        "requirements": {
            "entries": entries or [],
            "summary": {"minimum_deadline": {"status": "currently_due", "time": deadline}}
            if deadline
            else None,
        },
    }


# A new account: nothing submitted, everything past due, card payments restricted.
FRESH = v2_account(
    card="restricted",
    details=["requirements_past_due"],
    entries=[entry("business_type", "past_due")],
    submitted=False,
    payouts="restricted",
)


@pytest.mark.parametrize(
    ("account", "started", "status"),
    [
        (
            FRESH,
            False,
            OnboardingStatus.NOT_STARTED,
        ),
        (
            FRESH,
            True,
            OnboardingStatus.IN_PROGRESS,
        ),
        (
            v2_account(
                card="active",
                payouts="pending",
                entries=[entry("individual.verification.document", "currently_due")],
                deadline="2026-12-22T10:00:00.000Z",
            ),
            True,
            OnboardingStatus.ACTION_REQUIRED,
        ),
        (
            v2_account(
                card="pending",
                details=["requirements_pending_verification"],
                payouts="pending",
                entries=[entry("individual.id_number", "currently_due", waiting="stripe")],
            ),
            True,
            OnboardingStatus.UNDER_REVIEW,
        ),
        (
            v2_account(
                card="restricted",
                details=["requirements_past_due"],
                payouts="restricted",
                entries=[entry("external_account", "past_due")],
            ),
            True,
            OnboardingStatus.RESTRICTED,
        ),
        (
            v2_account(card="rejected", details=["rejected_fraud"], payouts="restricted"),
            True,
            OnboardingStatus.REJECTED,
        ),
        (v2_account(card="active"), True, OnboardingStatus.ACTIVE),
    ],
)
def test_v2_accounts_reach_the_same_onboarding_states(
    account: dict[str, Any], started: bool, status: OnboardingStatus
) -> None:
    state = derive_state(v1_shape(account), onboarding_started=started)
    assert state.status is status, state


def test_v2_requirements_read_as_v1_lists() -> None:
    shaped = v1_shape(
        v2_account(
            card="active",
            entries=[
                entry("a", "past_due"),
                entry("b", "currently_due"),
                entry("c", "eventually_due"),
                entry("d", "currently_due", waiting="stripe"),
            ],
            deadline="2026-12-22T10:00:00.000Z",
        )
    )
    requirements = shaped["requirements"]
    assert requirements["currently_due"] == ["a", "b"]
    assert requirements["past_due"] == ["a"]
    assert requirements["eventually_due"] == ["a", "b", "c"]
    assert requirements["pending_verification"] == ["d"]
    assert requirements["current_deadline"] == int(
        datetime(2026, 12, 22, 10, tzinfo=UTC).timestamp()
    )
    assert shaped["country"] == "US"
    assert shaped["charges_enabled"] is True


def test_a_closed_v2_account_reads_as_gone() -> None:
    assert v1_shape({"id": "acct_1", "closed": True})["closed"] is True
    assert v1_shape({"id": "acct_1"})["closed"] is False


def test_an_account_taking_card_payments_has_submitted_its_details() -> None:
    # Where the platform can't see the terms-of-service attestation (a Standard account).
    shaped = v1_shape(v2_account(card="active", submitted=False))
    assert shaped["details_submitted"] is True
    assert derive_state(shaped).status is OnboardingStatus.ACTIVE


def test_payouts_count_on_the_recipient_configuration_too() -> None:
    account = {
        "id": "acct_1",
        "configuration": {
            "recipient": {
                "capabilities": {
                    "stripe_balance": {
                        "payouts": {"status": "active"},
                        "stripe_transfers": {"status": "active"},
                    }
                }
            }
        },
    }
    shaped = v1_shape(account)
    assert shaped["payouts_enabled"] is True
    assert shaped["capabilities"] == {"transfers": "active"}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("rejected_fraud", "rejected.fraud"),
        ("rejected_terms_of_service", "rejected.terms_of_service"),
        ("rejected_platform_fraud", "rejected.platform_fraud"),
    ],
)
def test_a_rejection_says_who_rejected(code: str, reason: str) -> None:
    shaped = v1_shape(v2_account(card="rejected", details=[code]))
    assert shaped["requirements"]["disabled_reason"] == reason
    assert derive_state(shaped).status is OnboardingStatus.REJECTED
