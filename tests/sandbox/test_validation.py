"""The validator reads `stripe.params` as Stripe's schema: closed enums, required fields,
unknown parameters, typed scalars, and `''` only where the types allow unsetting."""

from __future__ import annotations

from typing import Any

import pytest
from stripe._encode import _api_encode
from stripe.params._account_update_params import AccountUpdateParams
from stripe.params._event_list_params import EventListParams
from stripe.params.billing_portal._configuration_create_params import ConfigurationCreateParams
from stripe.params.billing_portal._configuration_update_params import ConfigurationUpdateParams
from stripe.params.billing_portal._session_create_params import SessionCreateParams

from platform_service.sandbox.errors import StripeError
from platform_service.sandbox.forms import decode_pairs
from platform_service.sandbox.validation import Enum, Obj, OneOf, schema_for, validate


def check(params_class: type, params: dict[str, Any]) -> dict[str, Any]:
    wire = decode_pairs([(k, str(v).lower() if isinstance(v, bool) else str(v))
                         for k, v in _api_encode(params)])  # fmt: skip
    return validate(wire, schema_for(params_class))


def rejects(params_class: type, params: dict[str, Any]) -> StripeError:
    with pytest.raises(StripeError) as info:
        check(params_class, params)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    return info.value


def test_request_options_are_not_parameters() -> None:
    schema = schema_for(ConfigurationCreateParams)
    assert "stripe_account" not in schema.fields and "idempotency_key" not in schema.fields
    assert schema.required == {"features"}


def test_widened_enum_is_closed_and_keeps_empty_only_where_listed() -> None:
    cancel = schema_for(ConfigurationCreateParams).fields["features"]
    assert isinstance(cancel, Obj)
    mode = cancel.fields["subscription_cancel"]
    assert isinstance(mode, Obj)
    assert mode.fields["mode"] == Enum(frozenset({"at_period_end", "immediately"}))
    name = schema_for(ConfigurationCreateParams).fields["name"]
    assert isinstance(name, OneOf) and name.allows_empty  # Literal['']|str: free string


def test_valid_nested_configuration_is_typed() -> None:
    out = check(
        ConfigurationCreateParams,
        {
            "features": {
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "immediately",
                    "proration_behavior": "create_prorations",
                    "cancellation_reason": {"enabled": True, "options": ["too_expensive"]},
                },
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price", "quantity"],
                    "products": [
                        {
                            "product": "prod_1",
                            "prices": ["price_1"],
                            "adjustable_quantity": {"enabled": True, "maximum": 5},
                        }
                    ],
                    "schedule_at_period_end": {"conditions": [{"type": "shortening_interval"}]},
                },
                "subscription_pause": {
                    "enabled": True,
                    "duration": {
                        "type": "interval_options",
                        "interval_options": [{"interval": "month", "interval_count": 2}],
                    },
                },
            },
            "business_profile": {"headline": ""},
            "metadata": {"account": "acct_1"},
        },
    )
    products = out["features"]["subscription_update"]["products"]
    assert products[0]["adjustable_quantity"] == {"enabled": True, "maximum": 5}
    assert out["features"]["subscription_cancel"]["enabled"] is True
    assert out["business_profile"]["headline"] == ""


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"features": {"subscription_cancel": {"enabled": True, "mode": "later"}}},
         "features[subscription_cancel][mode]", None),
        ({"features": {"subscription_cancel": {"enabled": True, "modes": "immediately"}}},
         "features[subscription_cancel][modes]", "parameter_unknown"),
        ({"features": {"customer_update": {"allowed_updates": ["email"]}}},
         "features[customer_update][enabled]", "parameter_missing"),
        ({"features": {"invoice_history": {"enabled": "yes"}}},
         "features[invoice_history][enabled]", None),
        ({"features": {"subscription_update": {"enabled": True,
                                               "products": [{"product": "prod_1"}]}}},
         "features[subscription_update][products][0][prices]", "parameter_missing"),
        ({"features": {"subscription_update": {"enabled": True,
                                               "default_allowed_updates": ["plan"]}}},
         "features[subscription_update][default_allowed_updates][0]", None),
        ({"features": {"subscription_pause": {"duration": {"type": "forever"}}}},
         "features[subscription_pause][duration][type]", None),
        ({"features": {}, "business_profile": {"privacy_policy_url": ""}},
         "business_profile[privacy_policy_url]", "parameter_invalid_empty"),
        ({"features": {}, "active": True}, "active", "parameter_unknown"),
        ({}, "features", "parameter_missing"),
    ],
)  # fmt: skip
def test_configuration_create_rejections_name_the_param(
    params: dict[str, Any], param: str, code: str | None
) -> None:
    error = rejects(ConfigurationCreateParams, params)
    assert (error.param, error.code) == (param, code)


def test_update_accepts_active_and_unsetting_what_create_cannot() -> None:
    out = check(
        ConfigurationUpdateParams,
        {"active": False, "metadata": "", "business_profile": {"privacy_policy_url": ""}},
    )
    assert out == {"active": False, "metadata": "", "business_profile": {"privacy_policy_url": ""}}


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"flow_data": {"type": "subscription_explode"}}, "flow_data[type]", None),
        ({"flow_data": {"subscription_cancel": {"subscription": "sub_1"}}},
         "flow_data[type]", "parameter_missing"),
        ({"flow_data": {"type": "subscription_cancel",
                        "subscription_cancel": {"retention": {"type": "coupon_offer"}}}},
         "flow_data[subscription_cancel][retention][coupon_offer]", "parameter_missing"),
        ({"flow_data": {"type": "subscription_update_confirm",
                        "subscription_update_confirm": {"subscription": "sub_1",
                                                        "items": [{"quantity": 2}]}}},
         "flow_data[subscription_update_confirm][items][0][id]", "parameter_missing"),
        ({"locale": "xx"}, "locale", None),
        ({"after_expiration": {"type": "customer_login", "customer_login": {"expires_at": "soon"}}},
         "after_expiration[customer_login][expires_at]", "parameter_invalid_integer"),
        ({"flow_data": {"type": "customer_update",
                        "after_completion": {"type": "redirect", "redirect": {"url": "x"}}}},
         "flow_data[after_completion][redirect][url]", "parameter_unknown"),
    ],
)  # fmt: skip
def test_session_flow_data_rejections_name_the_param(
    params: dict[str, Any], param: str, code: str | None
) -> None:
    error = rejects(SessionCreateParams, {"customer": "cus_1", **params})
    assert (error.param, error.code) == (param, code)


def test_branding_update_and_metadata_unset() -> None:
    out = check(
        AccountUpdateParams,
        {"settings": {"branding": {"icon": "file_1", "primary_color": "#0A2540"}},
         "metadata": {"old": ""}},
    )  # fmt: skip
    assert out["metadata"] == {"old": ""}
    error = rejects(AccountUpdateParams, {"settings": {"branding": {"icon": ""}}})
    assert error.code == "parameter_invalid_empty"  # icon can be replaced, never unset
    error = rejects(AccountUpdateParams, {"settings": {"branding": {"font": "Inter"}}})
    assert error.param == "settings[branding][font]"


def test_union_of_object_and_integer() -> None:
    assert check(EventListParams, {"created": 5})["created"] == 5
    assert check(EventListParams, {"created": {"gte": 5}})["created"] == {"gte": 5}
    assert rejects(EventListParams, {"created": {"after": 5}}).param == "created[after]"
