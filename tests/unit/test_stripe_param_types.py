"""The test helper that checks params against the SDK's TypedDicts catches what Stripe would."""

from __future__ import annotations

from typing import Any

import pytest
from stripe.params.billing_portal import ConfigurationCreateParams, ConfigurationUpdateParams

from tests.unit.stripe_param_types import check_params, typed_dict_fields

MINIMAL: dict[str, Any] = {"features": {"invoice_history": {"enabled": True}}}


def test_request_options_are_not_body_params() -> None:
    fields = typed_dict_fields(ConfigurationCreateParams)
    assert "stripe_account" not in fields
    assert "idempotency_key" not in fields
    assert fields["features"][1] is True
    assert fields["metadata"][1] is False
    errors = check_params(MINIMAL | {"stripe_account": "acct_1"}, ConfigurationCreateParams)
    assert errors == ["stripe_account: unknown parameter"]


def test_features_is_required_on_create_only() -> None:
    assert check_params({}, ConfigurationCreateParams) == ["features: missing required parameter"]
    assert check_params({}, ConfigurationUpdateParams) == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"features": {"subscription_cancel": {"enabled": True, "mode": "later"}}},
            "features.subscription_cancel.mode: 'later' is not one of",
        ),
        (
            {"features": {"customer_update": {"enabled": True, "allowed_updates": ["bio"]}}},
            "features.customer_update.allowed_updates[0]: 'bio' is not one of",
        ),
        (
            {
                "features": {
                    "subscription_cancel": {
                        "enabled": True,
                        "cancellation_reason": {"options": ["other"]},
                    }
                }
            },
            "features.subscription_cancel.cancellation_reason.enabled: missing required",
        ),
        (
            {"features": {"invoice_history": {"enabled": "yes"}}},
            "features.invoice_history.enabled: expected a boolean",
        ),
        (
            {"features": {"invoice_history": {"enabled": True, "extra": 1}}},
            "features.invoice_history.extra: unknown parameter",
        ),
        (
            {
                "features": {
                    "subscription_update": {
                        "enabled": True,
                        "products": [{"product": "prod_1", "prices": "price_1"}],
                    }
                }
            },
            "features.subscription_update.products[0].prices: expected a list",
        ),
        (
            {
                "features": {
                    "subscription_update": {
                        "enabled": True,
                        "products": [
                            {
                                "product": "prod_1",
                                "prices": ["price_1"],
                                "adjustable_quantity": {"enabled": True, "minimum": True},
                            }
                        ],
                    }
                }
            },
            "adjustable_quantity.minimum: expected an integer",
        ),
        (
            {"features": {"invoice_history": {"enabled": True}}, "metadata": {"a": 1}},
            "metadata",
        ),
    ],
)
def test_it_reports_what_stripe_would_refuse(params: dict[str, Any], error: str) -> None:
    errors = check_params(params, ConfigurationCreateParams)
    assert len(errors) == 1, errors
    assert error in errors[0]


def test_empty_string_is_accepted_only_where_the_sdk_lists_it() -> None:
    cleared = MINIMAL | {"default_return_url": "", "name": ""}
    assert check_params(cleared, ConfigurationCreateParams) == []
    # A lone Literal['']|str is a free string, not a one-value enum.
    assert check_params(MINIMAL | {"name": "Seller portal"}, ConfigurationCreateParams) == []
    bad = {"features": {"subscription_cancel": {"enabled": True, "mode": ""}}}
    assert check_params(bad, ConfigurationCreateParams) != []
    conditions = {
        "features": {
            "subscription_update": {"enabled": True, "schedule_at_period_end": {"conditions": ""}}
        }
    }
    assert check_params(conditions, ConfigurationUpdateParams) == []
    assert check_params(conditions, ConfigurationCreateParams) != []


def test_empty_string_unsets_only_where_the_sdk_allows_it() -> None:
    profile = {"features": {"invoice_history": {"enabled": True}}}
    create = profile | {"business_profile": {"privacy_policy_url": ""}}
    assert check_params(create, ConfigurationCreateParams) == [
        "business_profile.privacy_policy_url: cannot be unset with ''"
    ]
    assert check_params(create, ConfigurationUpdateParams) == []
