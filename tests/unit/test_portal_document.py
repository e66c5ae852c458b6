"""The portal settings document: seed defaults, overrides, validation, compilation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, get_args, get_type_hints
from urllib.parse import urlencode

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode
from stripe.params.billing_portal import ConfigurationCreateParams, ConfigurationUpdateParams

from platform_service.portal.compile import (
    PRORATION_BEHAVIOR,
    cancel_flow_retention,
    compile_configuration,
    compile_configuration_update,
    content_hash,
)
from platform_service.portal.document import (
    CANCELLATION_REASONS,
    GROUP_PATHS,
    LEAF_PATHS,
    PATCH_TYPES,
    AdjustableQuantity,
    PortalProduct,
    PortalSettings,
    PortalSettingsPatch,
    apply_patch,
    default_headline,
    effective_headline,
    leaf_values,
    merge,
    overridden_paths,
    patch_from_settings,
    settings_from_patch,
    value_at,
)
from platform_service.portal.validation import (
    ReferencedId,
    SettingsIssue,
    check_hostname,
    check_url,
    normalize_custom_domain,
    referenced_ids,
    validate,
)
from platform_service.sandbox.forms import decode_form_body
from platform_service.sandbox.validation import schema_for
from platform_service.sandbox.validation import validate as sandbox_validate
from tests.unit.stripe_param_types import check_params

# The project's reference of the seed page's options (a copy of the design's
# reference/portal-defaults.json, kept in the repository so a clone tests alone).
SHARED_DEFAULTS = Path(__file__).resolve().parents[1] / "data" / "portal-defaults.json"

# The same compiled defaults written out, so a change to either is seen here.
COMPILED_WHEN_ALL_DEFAULT: dict[str, Any] = {
    "features": {
        "subscription_update": {"enabled": False},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
            "cancellation_reason": {
                "enabled": True,
                "options": [
                    "too_expensive",
                    "missing_features",
                    "switched_service",
                    "unused",
                    "customer_service",
                    "too_complex",
                    "low_quality",
                    "other",
                ],
            },
        },
        "customer_update": {
            "enabled": True,
            "allowed_updates": ["name", "email", "address", "phone"],
        },
        "payment_method_update": {"enabled": True},
        "invoice_history": {"enabled": True},
    },
    "business_profile": {},
}
# Every leaf of a fresh document, as the seed page sets it.
SEED_DEFAULTS: dict[str, Any] = {
    "subscription_management.switch_plans": False,
    "subscription_management.products": [],
    "subscription_management.update_quantities": False,
    "subscription_management.prorate_changes": "off",
    "subscription_management.downgrades": "update_immediately",
    "subscription_management.schedule_conditions": [
        "decreasing_item_amount",
        "shortening_interval",
    ],
    "subscription_management.promotion_codes_on_update": False,
    "cancellations.cancel_subscriptions": True,
    "cancellations.cancel_mode": "at_period_end",
    "cancellations.cancel_proration": "none",
    "cancellations.cancellation_reason": True,
    "cancellations.cancellation_reason_options": list(CANCELLATION_REASONS),
    "cancellations.retention_coupon": False,
    "cancellations.retention_coupon_id": None,
    "customer_billing.billing_information": True,
    "customer_billing.allowed_fields.name": True,
    "customer_billing.allowed_fields.email": True,
    "customer_billing.allowed_fields.address": True,
    "customer_billing.allowed_fields.phone": True,
    "customer_billing.allowed_fields.shipping": False,
    "customer_billing.allowed_fields.tax_id": False,
    "customer_billing.payment_methods": True,
    "customisation.headline": None,  # None = Stripe's default sentence
    "customisation.terms_of_service_url": None,
    "customisation.privacy_policy_url": None,
    "customisation.default_return_url": None,
    "customisation.custom_domain": None,
    "customisation.business_name": None,
    "invoice_history.invoice_history": True,
}
# The options Stripe has beyond the seed page, at the values Stripe gives a
# configuration made through the API without them (stripe-contract.md §1.5-1.6
# and the params' docstrings): pause off, trials end on update, the billing
# cycle stays, no custom feedback, the default payment method configuration,
# no name, no login page.
STRIPE_API_DEFAULTS: dict[str, Any] = {
    "subscription_management.trial_update_behavior": "end_trial",
    "subscription_management.billing_cycle_anchor": "unchanged",
    "subscription_management.pause_subscriptions": False,
    "cancellations.cancellation_feedback_options": [],
    "customer_billing.payment_method_configuration": None,
    "customisation.configuration_name": None,
    "customisation.login_page": False,
}
# Every leaf of a fresh document, in document order.
DEFAULTS: dict[str, Any] = {
    path: (SEED_DEFAULTS | STRIPE_API_DEFAULTS)[path]
    for path in (
        *list(SEED_DEFAULTS)[:7],
        *list(STRIPE_API_DEFAULTS)[:3],
        *list(SEED_DEFAULTS)[7:14],
        "cancellations.cancellation_feedback_options",
        *list(SEED_DEFAULTS)[14:22],
        "customer_billing.payment_method_configuration",
        *list(SEED_DEFAULTS)[22:28],
        "customisation.configuration_name",
        "customisation.login_page",
        *list(SEED_DEFAULTS)[28:],
    )
}
HEADLINE_TEMPLATE = "{business_name} partners with Stripe to simplify billing."


def _doc(patch: dict[str, Any], business_name: str | None = "Acme") -> PortalSettings:
    """A document from seed defaults + `patch` (a nested dict), with a business name."""
    base: dict[str, Any] = {"customisation": {"business_name": business_name}}
    merged = copy.deepcopy(base)
    for group, fields in patch.items():
        merged.setdefault(group, {}).update(fields)
    return settings_from_patch(msgspec.convert(merged, PortalSettingsPatch))


def _patch(data: dict[str, Any]) -> PortalSettingsPatch:
    return msgspec.convert(data, PortalSettingsPatch)


def _sdk_errors(settings_: PortalSettings) -> list[str]:
    create = compile_configuration(settings_)
    update = compile_configuration_update(settings_)
    errors = (
        check_params(create, ConfigurationCreateParams)
        + check_params(create, ConfigurationUpdateParams)
        + check_params(update, ConfigurationUpdateParams)
    )
    if not errors:
        # Then over the wire: the SDK's own form encoding, read back and
        # checked by the sandbox's validator, must arrive meaning the same.
        assert _over_the_wire(create, ConfigurationCreateParams) == _as_sent(create)
        assert _over_the_wire(update, ConfigurationUpdateParams) == _as_sent(update)
    return errors


def _over_the_wire(params: dict[str, Any], params_type: type) -> dict[str, Any]:
    body = urlencode(list(_api_encode(params))).encode()
    return sandbox_validate(decode_form_body(body), schema_for(params_type))


def _as_sent(value: Any) -> Any:
    """What survives form encoding: empty lists and objects send nothing at all."""
    if isinstance(value, dict):
        kept = {k: _as_sent(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_as_sent(v) for v in value]
    return value


PRODUCTS = [
    {
        "product": "prod_basic",
        "prices": ["price_basic_m", "price_basic_y"],
        "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50},
    },
    {"product": "prod_pro", "prices": ["price_pro_m"], "adjustable_quantity": None},
]
FULLY_LOADED: dict[str, Any] = {
    "subscription_management": {
        "switch_plans": True,
        "products": PRODUCTS,
        "update_quantities": True,
        "prorate_changes": "charge_now",
        "downgrades": "schedule_at_period_end",
        "schedule_conditions": ["decreasing_item_amount", "shortening_interval"],
        "promotion_codes_on_update": True,
        "trial_update_behavior": "continue_trial",
        "billing_cycle_anchor": "now",
        "pause_subscriptions": True,
    },
    "cancellations": {
        "cancel_subscriptions": True,
        "cancel_mode": "immediately",
        "cancel_proration": "create_prorations",
        "cancellation_reason": True,
        "cancellation_reason_options": ["too_expensive", "other"],
        "retention_coupon": True,
        "retention_coupon_id": "STAY20",
        "cancellation_feedback_options": ["bfo_price", "bfo_support"],
    },
    "customer_billing": {
        "billing_information": True,
        "allowed_fields": {"shipping": True, "tax_id": True},
        "payment_methods": True,
        "payment_method_configuration": "pmc_1Nv0FGQ9RKHgCVdK",
    },
    "customisation": {
        "headline": "Manage your Acme plan",
        "terms_of_service_url": "https://acme.example/terms",
        "privacy_policy_url": "https://acme.example/privacy",
        "default_return_url": "https://acme.example/account",
        "custom_domain": "billing.acme.example",
        "business_name": "Acme",
        "configuration_name": "Acme's portal",
        "login_page": True,
    },
    "invoice_history": {"invoice_history": True},
}


# ---------------------------------------------------------------- seed defaults


def test_a_fresh_document_equals_the_seed_defaults_field_by_field() -> None:
    assert leaf_values(PortalSettings()) == DEFAULTS
    assert list(LEAF_PATHS) == list(DEFAULTS)
    assert set(DEFAULTS) == set(SEED_DEFAULTS) | set(STRIPE_API_DEFAULTS)


def test_options_beyond_the_seed_take_the_sdks_own_choices() -> None:
    """Each new choice is one of the SDK's literal values, named the same way."""
    from stripe.params.billing_portal._configuration_create_params import (
        ConfigurationCreateParamsFeaturesSubscriptionUpdate as Update,
    )

    hints = get_type_hints(type(PortalSettings().subscription_management))
    sdk = get_type_hints(Update)
    for name in ("trial_update_behavior", "billing_cycle_anchor"):
        ours = set(get_args(hints[name]))
        # "Literal[...]|str": the literal's values, without the widening str.
        theirs = {a for arg in get_args(sdk[name]) for a in get_args(arg)}
        assert ours == theirs, name


def test_an_empty_patch_decodes_to_the_seed_defaults() -> None:
    assert settings_from_patch(msgspec.json.decode(b"{}", type=PortalSettingsPatch)) == (
        PortalSettings()
    )
    assert msgspec.json.decode(b"{}", type=PortalSettings) == PortalSettings()


def test_defaults_compile_to_the_seed_configuration() -> None:
    assert compile_configuration(PortalSettings()) == COMPILED_WHEN_ALL_DEFAULT


def test_default_lists_are_not_shared_between_documents() -> None:
    first, second = PortalSettings(), PortalSettings()
    first.cancellations.cancellation_reason_options.pop()
    assert len(second.cancellations.cancellation_reason_options) == 8


def test_embedded_copies_match_the_shared_reference() -> None:
    reference = json.loads(SHARED_DEFAULTS.read_text())
    compiled = {k: v for k, v in reference["compiled_when_all_default"].items() if k != "_note"}
    assert compiled == COMPILED_WHEN_ALL_DEFAULT
    assert compile_configuration(PortalSettings()) == compiled
    fresh = PortalSettings()
    for option in reference["options"]:
        path = f"{option['group']}.{option['option']}"
        if option["option"] == "headline":
            assert option["default"] == HEADLINE_TEMPLATE
            assert value_at(fresh, path) is None  # reported, not stored or sent
            continue
        assert value_at(fresh, path) == option["default"], path
        assert SEED_DEFAULTS[path] == option["default"], path
        if "choices" in option:
            hints = get_type_hints(type(value_at(fresh, option["group"])))
            assert set(option["choices"]) == set(get_args(hints[option["option"]])), path


# ---------------------------------------------------------------- headline


def test_default_headline_is_stripes_sentence() -> None:
    assert default_headline("Acme") == "Acme partners with Stripe to simplify billing."
    assert default_headline("Acme") == HEADLINE_TEMPLATE.format(business_name="Acme")


def test_effective_headline_is_the_set_one_else_the_default_sentence() -> None:
    assert effective_headline(_doc({})) == "Acme partners with Stripe to simplify billing."
    assert effective_headline(_doc({"customisation": {"headline": "Hi"}})) == "Hi"
    assert effective_headline(PortalSettings()) is None


def test_the_default_headline_is_reported_but_not_sent() -> None:
    # Even when the default sentence is over 60 characters, it is fine: it is Stripe's.
    name = "An Exceptionally Long Business Name Incorporated"
    doc = _doc({}, business_name=name)
    assert len(effective_headline(doc) or "") > 60
    assert validate(doc) == []
    assert "headline" not in compile_configuration(doc)["business_profile"]


# ---------------------------------------------------------------- merge / patch


def test_merge_layers_default_platform_account_and_reports_sources() -> None:
    platform = _patch(
        {
            "cancellations": {"cancel_mode": "immediately"},
            "customer_billing": {"allowed_fields": {"shipping": True}},
            "customisation": {"headline": "Platform headline", "business_name": "Plat"},
        }
    )
    account = _patch(
        {
            "customisation": {"headline": None, "business_name": "Seller"},
            "customer_billing": {"allowed_fields": {"tax_id": True}},
        }
    )
    merged = merge(platform, account)
    doc = merged.settings
    assert doc.cancellations.cancel_mode == "immediately"
    assert doc.customisation.headline is None  # the account chose Stripe's default
    assert doc.customisation.business_name == "Seller"
    assert doc.customer_billing.allowed_fields.shipping is True
    assert doc.customer_billing.allowed_fields.tax_id is True
    assert merged.sources["cancellations.cancel_mode"] == "platform"
    assert merged.sources["customisation.headline"] == "account"
    assert merged.sources["customer_billing.allowed_fields.shipping"] == "platform"
    assert merged.sources["customer_billing.allowed_fields.tax_id"] == "account"
    assert merged.sources["invoice_history.invoice_history"] == "default"
    assert set(merged.sources) == set(LEAF_PATHS)
    assert merged.inherited == frozenset(LEAF_PATHS) - {
        "customisation.headline",
        "customisation.business_name",
        "customer_billing.allowed_fields.tax_id",
    }


def test_merge_result_unpacks_as_settings_and_sources() -> None:
    settings_, sources = merge()
    assert settings_ == PortalSettings()
    assert set(sources.values()) == {"default"}


def test_every_group_has_a_patch_type_with_the_same_fields() -> None:
    for full, patch in PATCH_TYPES.items():
        assert full.__struct_fields__ == patch.__struct_fields__, full.__name__


_LEAF_SAMPLE_VALUES: dict[str, list[Any]] = {
    "subscription_management.switch_plans": [True, False],
    "subscription_management.products": [[], PRODUCTS, PRODUCTS[:1]],
    "subscription_management.update_quantities": [True, False],
    "subscription_management.prorate_changes": ["off", "charge_now", "next_invoice"],
    "subscription_management.downgrades": ["update_immediately", "schedule_at_period_end"],
    "subscription_management.schedule_conditions": [[], ["shortening_interval"]],
    "subscription_management.promotion_codes_on_update": [True, False],
    "subscription_management.trial_update_behavior": ["end_trial", "continue_trial"],
    "subscription_management.billing_cycle_anchor": ["unchanged", "now"],
    "subscription_management.pause_subscriptions": [True, False],
    "cancellations.cancel_subscriptions": [True, False],
    "cancellations.cancel_mode": ["at_period_end", "immediately"],
    "cancellations.cancel_proration": ["none", "create_prorations"],
    "cancellations.cancellation_reason": [True, False],
    "cancellations.cancellation_reason_options": [["other"], []],
    "cancellations.retention_coupon": [True, False],
    "cancellations.retention_coupon_id": [None, "STAY20", "co_2"],
    "cancellations.cancellation_feedback_options": [[], ["bfo_1"], ["bfo_1", "bfo_2"]],
    "customer_billing.billing_information": [True, False],
    "customer_billing.allowed_fields.name": [True, False],
    "customer_billing.allowed_fields.email": [True, False],
    "customer_billing.allowed_fields.address": [True, False],
    "customer_billing.allowed_fields.phone": [True, False],
    "customer_billing.allowed_fields.shipping": [True, False],
    "customer_billing.allowed_fields.tax_id": [True, False],
    "customer_billing.payment_methods": [True, False],
    "customer_billing.payment_method_configuration": [None, "pmc_1", "pmc_2"],
    "customisation.headline": [None, "Hello", "Another headline"],
    "customisation.terms_of_service_url": [None, "https://a.example/t"],
    "customisation.privacy_policy_url": [None, "https://a.example/p"],
    "customisation.default_return_url": [None, "http://localhost:8000/back"],
    "customisation.custom_domain": [None, "billing.a.example"],
    "customisation.business_name": [None, "Acme", "Zed"],
    "customisation.configuration_name": [None, "Acme portal"],
    "customisation.login_page": [True, False],
    "invoice_history.invoice_history": [True, False],
}
LEAF_SAMPLES = {path: st.sampled_from(values) for path, values in _LEAF_SAMPLE_VALUES.items()}


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *groups, leaf = path.split(".")
        node = nested
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value
    return nested


flat_patches = st.dictionaries(
    st.sampled_from(LEAF_PATHS), st.none(), max_size=len(LEAF_PATHS)
).flatmap(lambda keys: st.fixed_dictionaries({k: LEAF_SAMPLES[k] for k in keys}))


def test_leaf_samples_cover_every_leaf() -> None:
    assert set(LEAF_SAMPLES) == set(LEAF_PATHS)


@given(flat_patches, flat_patches)
def test_merge_takes_each_leaf_from_the_nearest_layer_that_sets_it(
    platform_flat: dict[str, Any], account_flat: dict[str, Any]
) -> None:
    platform, account = _patch(_nest(platform_flat)), _patch(_nest(account_flat))
    merged = merge(platform, account)
    values = leaf_values(merged.settings)
    normalised = json.loads(msgspec.json.encode(values))
    for path in LEAF_PATHS:
        if path in account_flat:
            expected, source = account_flat[path], "account"
        elif path in platform_flat:
            expected, source = platform_flat[path], "platform"
        else:
            expected, source = json.loads(msgspec.json.encode(DEFAULTS[path])), "default"
        assert normalised[path] == expected, path
        assert merged.sources[path] == source, path
    assert overridden_paths(account) == set(account_flat)
    # Stored overrides encode to exactly what was set (UNSET never encodes).
    assert json.loads(msgspec.json.encode(account)) == _nest(account_flat)


@given(flat_patches, flat_patches, st.lists(st.sampled_from(LEAF_PATHS), max_size=4))
def test_apply_patch_resets_then_overlays(
    current_flat: dict[str, Any], patch_flat: dict[str, Any], reset: list[str]
) -> None:
    result = apply_patch(_patch(_nest(current_flat)), _patch(_nest(patch_flat)), reset=reset)
    expected = {k: v for k, v in current_flat.items() if k not in reset} | patch_flat
    assert overridden_paths(result) == set(expected)
    assert json.loads(msgspec.json.encode(result)) == _nest(expected)


def test_apply_patch_can_reset_a_whole_group() -> None:
    current = _patch(
        {
            "customer_billing": {"payment_methods": False, "allowed_fields": {"shipping": True}},
            "cancellations": {"cancel_mode": "immediately"},
        }
    )
    result = apply_patch(current, PortalSettingsPatch(), reset=["customer_billing"])
    assert overridden_paths(result) == {"cancellations.cancel_mode"}
    result = apply_patch(current, PortalSettingsPatch(), reset=["customer_billing.allowed_fields"])
    assert overridden_paths(result) == {
        "cancellations.cancel_mode",
        "customer_billing.payment_methods",
    }


def test_apply_patch_treats_null_as_a_value_not_as_inherit() -> None:
    current = _patch({"customisation": {"headline": "Mine"}})
    result = apply_patch(current, _patch({"customisation": {"headline": None}}))
    assert overridden_paths(result) == {"customisation.headline"}
    assert merge(_patch({"customisation": {"headline": "Platform's"}}), result).settings == (
        settings_from_patch(_patch({"customisation": {"headline": None}}))
    )


def test_unknown_paths_are_refused() -> None:
    with pytest.raises(KeyError, match=r"customisation\.logo"):
        apply_patch(PortalSettingsPatch(), PortalSettingsPatch(), reset=["customisation.logo"])
    with pytest.raises(KeyError, match="nope"):
        value_at(PortalSettings(), "nope")


def test_group_paths() -> None:
    assert {
        "subscription_management",
        "cancellations",
        "customer_billing",
        "customer_billing.allowed_fields",
        "customisation",
        "invoice_history",
    } == GROUP_PATHS


def test_patches_forbid_unknown_fields_and_check_enums() -> None:
    with pytest.raises(msgspec.ValidationError, match="logo"):
        msgspec.json.decode(b'{"customisation": {"logo": "x"}}', type=PortalSettingsPatch)
    with pytest.raises(msgspec.ValidationError, match=r"cancellations\.cancel_mode"):
        msgspec.json.decode(b'{"cancellations": {"cancel_mode": "soon"}}', type=PortalSettingsPatch)
    with pytest.raises(msgspec.ValidationError, match="switch_plans"):
        msgspec.json.decode(
            b'{"subscription_management": {"switch_plans": null}}', type=PortalSettingsPatch
        )


@given(flat_patches)
def test_patch_from_settings_pins_every_field(flat: dict[str, Any]) -> None:
    doc = settings_from_patch(_patch(_nest(flat)))
    pinned = patch_from_settings(doc)
    assert overridden_paths(pinned) == set(LEAF_PATHS)
    assert settings_from_patch(pinned) == doc
    # Pinned overrides win over any platform defaults.
    assert merge(_patch(_nest(flat)), pinned).settings == doc


# ---------------------------------------------------------------- validation

# (patch on top of seed defaults + business name, param, code)
BROKEN: list[tuple[dict[str, Any], str, str]] = [
    (
        {"subscription_management": {"prorate_changes": "charge_now"}},
        "subscription_management.prorate_changes",
        "requires_subscription_updates",
    ),
    (
        {"subscription_management": {"downgrades": "schedule_at_period_end"}},
        "subscription_management.downgrades",
        "requires_subscription_updates",
    ),
    (
        {"subscription_management": {"promotion_codes_on_update": True}},
        "subscription_management.promotion_codes_on_update",
        "requires_subscription_updates",
    ),
    (
        {"subscription_management": {"switch_plans": True}},
        "subscription_management.products",
        "products_required",
    ),
    (
        {
            "subscription_management": {
                "products": [{"product": f"prod_{i}", "prices": [f"price_{i}"]} for i in range(11)]
            }
        },
        "subscription_management.products",
        "too_many_products",
    ),
    (
        {"subscription_management": {"products": [{"product": "prod_a", "prices": []}]}},
        "subscription_management.products[0].prices",
        "prices_required",
    ),
    (
        {
            "subscription_management": {
                "products": [
                    {"product": "prod_a", "prices": ["price_1"]},
                    {"product": "prod_a", "prices": ["price_2"]},
                ]
            }
        },
        "subscription_management.products[1].product",
        "duplicate",
    ),
    (
        {
            "subscription_management": {
                "products": [
                    {"product": "prod_a", "prices": ["price_1"]},
                    {"product": "prod_b", "prices": ["price_1"]},
                ]
            }
        },
        "subscription_management.products[1].prices[0]",
        "duplicate",
    ),
    (
        {"subscription_management": {"products": [{"product": "prod a", "prices": ["p"]}]}},
        "subscription_management.products[0].product",
        "invalid_id",
    ),
    (
        {"subscription_management": {"products": [{"product": "prod_a", "prices": [""]}]}},
        "subscription_management.products[0].prices[0]",
        "invalid_id",
    ),
    (
        {
            "subscription_management": {
                "products": [
                    {
                        "product": "prod_a",
                        "prices": ["price_1"],
                        "adjustable_quantity": {"enabled": True, "minimum": -1},
                    }
                ]
            }
        },
        "subscription_management.products[0].adjustable_quantity.minimum",
        "invalid_quantity",
    ),
    (
        {
            "subscription_management": {
                "products": [
                    {
                        "product": "prod_a",
                        "prices": ["price_1"],
                        "adjustable_quantity": {"enabled": True, "minimum": 5, "maximum": 2},
                    }
                ]
            }
        },
        "subscription_management.products[0].adjustable_quantity.maximum",
        "invalid_quantity",
    ),
    (
        {
            "subscription_management": {
                "products": [
                    {
                        "product": "prod_a",
                        "prices": ["price_1"],
                        "adjustable_quantity": {"enabled": True, "maximum": 0},
                    }
                ]
            }
        },
        "subscription_management.products[0].adjustable_quantity.maximum",
        "invalid_quantity",
    ),
    (
        {
            "subscription_management": {
                "update_quantities": True,
                "downgrades": "schedule_at_period_end",
                "schedule_conditions": [],
            }
        },
        "subscription_management.schedule_conditions",
        "conditions_required",
    ),
    (
        {
            "subscription_management": {
                "schedule_conditions": ["shortening_interval", "shortening_interval"]
            }
        },
        "subscription_management.schedule_conditions",
        "duplicate",
    ),
    (
        {"cancellations": {"cancel_subscriptions": False}},
        "cancellations.cancellation_reason",
        "requires_cancel",
    ),
    (
        {
            "cancellations": {
                "cancel_subscriptions": False,
                "cancellation_reason": False,
                "retention_coupon": True,
                "retention_coupon_id": "STAY",
            }
        },
        "cancellations.retention_coupon",
        "requires_cancel",
    ),
    (
        {
            "cancellations": {
                "cancel_subscriptions": False,
                "cancellation_reason": False,
                "cancel_mode": "immediately",
                "cancel_proration": "create_prorations",
            }
        },
        "cancellations.cancel_proration",
        "requires_cancel",
    ),
    (
        {"cancellations": {"cancel_proration": "create_prorations"}},
        "cancellations.cancel_proration",
        "requires_immediate_cancel",
    ),
    (
        {"cancellations": {"retention_coupon": True}},
        "cancellations.retention_coupon_id",
        "coupon_required",
    ),
    (
        {"cancellations": {"retention_coupon_id": "has space"}},
        "cancellations.retention_coupon_id",
        "invalid_id",
    ),
    (
        {"cancellations": {"cancellation_reason_options": []}},
        "cancellations.cancellation_reason_options",
        "options_required",
    ),
    (
        {"cancellations": {"cancellation_reason_options": ["other", "other"]}},
        "cancellations.cancellation_reason_options",
        "duplicate",
    ),
    (
        {
            "customer_billing": {
                "allowed_fields": {
                    "name": False,
                    "email": False,
                    "address": False,
                    "phone": False,
                }
            }
        },
        "customer_billing.allowed_fields",
        "fields_required",
    ),
    ({"customisation": {"headline": ""}}, "customisation.headline", "blank"),
    ({"customisation": {"headline": "   "}}, "customisation.headline", "blank"),
    ({"customisation": {"headline": "x" * 61}}, "customisation.headline", "too_long"),
    (
        {"customisation": {"terms_of_service_url": "http://acme.example/terms"}},
        "customisation.terms_of_service_url",
        "insecure_url",
    ),
    (
        {"customisation": {"privacy_policy_url": "acme.example/privacy"}},
        "customisation.privacy_policy_url",
        "invalid_url",
    ),
    (
        {"customisation": {"default_return_url": "javascript:alert(1)"}},
        "customisation.default_return_url",
        "invalid_url",
    ),
    (
        {"customisation": {"custom_domain": "acme.example"}},
        "customisation.custom_domain",
        "invalid_hostname",
    ),
    (
        {"customisation": {"custom_domain": "10.0.0.1"}},
        "customisation.custom_domain",
        "invalid_hostname",
    ),
    ({"customisation": {"business_name": None}}, "customisation.business_name", "required"),
    ({"customisation": {"business_name": " "}}, "customisation.business_name", "required"),
    (
        {"subscription_management": {"trial_update_behavior": "continue_trial"}},
        "subscription_management.trial_update_behavior",
        "requires_subscription_updates",
    ),
    (
        {"subscription_management": {"billing_cycle_anchor": "now"}},
        "subscription_management.billing_cycle_anchor",
        "requires_subscription_updates",
    ),
    (
        {"cancellations": {"cancellation_feedback_options": ["bfo_1", "has space"]}},
        "cancellations.cancellation_feedback_options[1]",
        "invalid_id",
    ),
    (
        {"cancellations": {"cancellation_feedback_options": ["bfo_1", "bfo_1"]}},
        "cancellations.cancellation_feedback_options",
        "duplicate",
    ),
    (
        {"customer_billing": {"payment_method_configuration": "card"}},
        "customer_billing.payment_method_configuration",
        "invalid_id",
    ),
    (
        {"customer_billing": {"payment_method_configuration": ""}},
        "customer_billing.payment_method_configuration",
        "invalid_id",
    ),
    (
        {"customer_billing": {"payment_methods": False, "payment_method_configuration": "pmc_1"}},
        "customer_billing.payment_method_configuration",
        "requires_payment_methods",
    ),
    ({"customisation": {"configuration_name": " "}}, "customisation.configuration_name", "blank"),
    (
        {"customisation": {"configuration_name": "x" * 5001}},
        "customisation.configuration_name",
        "too_long",
    ),
]


@pytest.mark.parametrize(("patch", "param", "code"), BROKEN, ids=[f"{p}:{c}" for _, p, c in BROKEN])
def test_each_rule_names_the_field_it_breaks(patch: dict[str, Any], param: str, code: str) -> None:
    issues = validate(_doc(patch))
    assert [(i.param, i.code) for i in issues] == [(param, code)], issues
    assert issues[0].message


# The same rules satisfied: each of these documents is valid.
SATISFIED: list[dict[str, Any]] = [
    {"subscription_management": {"update_quantities": True, "prorate_changes": "charge_now"}},
    {"subscription_management": {"switch_plans": True, "products": PRODUCTS}},
    {
        "subscription_management": {
            "update_quantities": True,
            "downgrades": "schedule_at_period_end",
            "promotion_codes_on_update": True,
        }
    },
    {
        "subscription_management": {
            "products": [{"product": f"prod_{i}", "prices": [f"price_{i}"]} for i in range(10)]
        }
    },
    {
        "subscription_management": {
            "products": [
                {
                    "product": "prod_a",
                    "prices": ["price_1"],
                    "adjustable_quantity": {"enabled": True, "minimum": 0, "maximum": 1},
                }
            ]
        }
    },
    {"cancellations": {"cancel_subscriptions": False, "cancellation_reason": False}},
    {"cancellations": {"cancel_mode": "immediately", "cancel_proration": "create_prorations"}},
    {"cancellations": {"retention_coupon": True, "retention_coupon_id": "STAY20"}},
    {"cancellations": {"cancellation_reason": False, "cancellation_reason_options": []}},
    {
        "customer_billing": {
            "billing_information": False,
            "allowed_fields": {"name": False, "email": False, "address": False, "phone": False},
        }
    },
    {"customisation": {"headline": "x" * 60}},
    {"customisation": {"default_return_url": "http://localhost:3000/done"}},
    {"customisation": {"default_return_url": "http://127.0.0.1/done"}},
    {"customisation": {"custom_domain": "billing.acme.example"}},
    {
        "subscription_management": {
            "update_quantities": True,
            "trial_update_behavior": "continue_trial",
            "billing_cycle_anchor": "now",
        }
    },
    {"subscription_management": {"pause_subscriptions": True}},
    {"cancellations": {"cancellation_feedback_options": ["bfo_1", "bfo_2"]}},
    {"customer_billing": {"payment_method_configuration": "pmc_1"}},
    {"customisation": {"configuration_name": "x" * 5000, "login_page": True}},
    FULLY_LOADED,
]


@pytest.mark.parametrize("patch", SATISFIED)
def test_documents_satisfying_the_rules_are_valid(patch: dict[str, Any]) -> None:
    assert validate(_doc(patch)) == []


def test_several_broken_rules_are_all_reported_in_document_order() -> None:
    doc = _doc(
        {
            "subscription_management": {"promotion_codes_on_update": True},
            "cancellations": {"retention_coupon": True},
            "customisation": {"headline": "", "business_name": None},
        },
    )
    assert [i.param for i in validate(doc)] == [
        "subscription_management.promotion_codes_on_update",
        "cancellations.retention_coupon_id",
        "customisation.headline",
        "customisation.business_name",
    ]


def test_a_document_built_in_python_with_a_bad_enum_is_an_invalid_value() -> None:
    doc = _doc({})
    doc.cancellations.cancel_mode = "whenever"  # type: ignore[assignment]
    [issue] = validate(doc)
    assert issue.code == "invalid_value"
    assert issue.param == "cancellations.cancel_mode"
    assert "whenever" in issue.message or "Invalid enum value" in issue.message


def test_issues_encode_as_api_errors() -> None:
    issue = SettingsIssue(param="a.b", code="blank", message="m")
    assert msgspec.json.encode(issue) == b'{"param":"a.b","code":"blank","message":"m"}'


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.example",
        "https://acme.example/a?b=c#d",
        "https://acme.example:8443/x",
        "http://localhost",
        "http://localhost:8000/x",
        "http://127.0.0.1:5000/",
        "http://[::1]:8000/",
        "HTTPS://ACME.EXAMPLE/",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://acme.example", "insecure_url"),
        ("http://localhost.acme.example", "insecure_url"),
        ("http://127.0.0.2", "insecure_url"),
        ("ftp://acme.example", "invalid_url"),
        ("//acme.example/x", "invalid_url"),
        ("/relative/path", "invalid_url"),
        ("https://", "invalid_url"),
        ("https://user:pw@acme.example", "invalid_url"),
        ("https://evil.example@acme.example", "invalid_url"),
        ("https://acme.example:99999", "invalid_url"),
        ("https://acme.example/a b", "invalid_url"),
        ("https://acme.example/\n", "invalid_url"),
        ("", "invalid_url"),
    ],
)
def test_unacceptable_urls(url: str, code: str) -> None:
    problem = check_url(url)
    assert problem is not None
    assert problem[0] == code


@pytest.mark.parametrize(
    "host", ["billing.acme.example", "pay.acme.co.uk", "a-b.c1.example", "BILLING.Acme.Example"]
)
def test_acceptable_custom_domains(host: str) -> None:
    assert check_hostname(host) is None


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("acme.example", "not a subdomain"),
        ("localhost", "not a subdomain"),
        ("192.168.1.10", "IP address"),
        ("::1", "IP address"),
        ("[2001:db8::1]", "IP address"),
        ("https://billing.acme.example", "host name only"),
        ("billing.acme.example/portal", "host name only"),
        ("billing.acme.example:443", "port"),
        ("billing.acme.example.", "end with a dot"),
        ("-billing.acme.example", "invalid label"),
        ("billing-.acme.example", "invalid label"),
        ("bill_ing.acme.example", "invalid label"),
        ("billing..example", "invalid label"),
        ("a" * 64 + ".acme.example", "invalid label"),
        ("billing.acme.123", "numeric label"),
        ("bïlling.acme.example", "punycode"),
        (" billing.acme.example", "whitespace"),
        ("", "empty"),
        (".".join(["abcdefghij"] * 24), "253"),
    ],
)
def test_unacceptable_custom_domains(host: str, says: str) -> None:
    problem = check_hostname(host)
    assert problem is not None
    assert says in problem


def test_custom_domains_compare_case_insensitively() -> None:
    assert normalize_custom_domain("Billing.ACME.example") == "billing.acme.example"


# ---------------------------------------------------------------- referenced ids


def test_referenced_ids_lists_what_must_exist_on_stripe() -> None:
    refs = referenced_ids(_doc(FULLY_LOADED))
    assert refs == [
        ReferencedId(
            kind="product", id="prod_basic", param="subscription_management.products[0].product"
        ),
        ReferencedId(
            kind="price",
            id="price_basic_m",
            param="subscription_management.products[0].prices[0]",
            product="prod_basic",
        ),
        ReferencedId(
            kind="price",
            id="price_basic_y",
            param="subscription_management.products[0].prices[1]",
            product="prod_basic",
        ),
        ReferencedId(
            kind="product", id="prod_pro", param="subscription_management.products[1].product"
        ),
        ReferencedId(
            kind="price",
            id="price_pro_m",
            param="subscription_management.products[1].prices[0]",
            product="prod_pro",
        ),
        ReferencedId(kind="coupon", id="STAY20", param="cancellations.retention_coupon_id"),
    ]


def test_referenced_ids_skip_what_is_switched_off() -> None:
    doc = _doc(
        {
            "subscription_management": {"products": PRODUCTS},
            "cancellations": {"retention_coupon_id": "STAY20"},
        }
    )
    assert referenced_ids(doc) == []


def test_retention_coupon_rides_on_cancel_flows_only_while_offered() -> None:
    assert cancel_flow_retention(_doc(FULLY_LOADED)) == {
        "type": "coupon_offer",
        "coupon_offer": {"coupon": "STAY20"},
    }
    assert cancel_flow_retention(_doc({"cancellations": {"retention_coupon_id": "X"}})) is None
    assert cancel_flow_retention(PortalSettings()) is None


# ---------------------------------------------------------------- compile


def _features(patch: dict[str, Any]) -> dict[str, Any]:
    features: dict[str, Any] = compile_configuration(_doc(patch))["features"]
    return features


def test_switch_plans_compiles_products_and_price_updates() -> None:
    update = _features({"subscription_management": {"switch_plans": True, "products": PRODUCTS}})[
        "subscription_update"
    ]
    assert update == {
        "enabled": True,
        "default_allowed_updates": ["price"],
        "products": [
            {"product": "prod_basic", "prices": ["price_basic_m", "price_basic_y"]},
            {"product": "prod_pro", "prices": ["price_pro_m"]},
        ],
        "proration_behavior": "none",
        "schedule_at_period_end": {"conditions": []},
    }


def test_update_quantities_compiles_quantity_limits_per_product() -> None:
    update = _features(
        {"subscription_management": {"update_quantities": True, "products": PRODUCTS}}
    )["subscription_update"]
    assert update["default_allowed_updates"] == ["quantity"]
    assert update["products"] == [
        {
            "product": "prod_basic",
            "prices": ["price_basic_m", "price_basic_y"],
            "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50},
        },
        {
            "product": "prod_pro",
            "prices": ["price_pro_m"],
            "adjustable_quantity": {"enabled": True},
        },
    ]


def test_update_quantities_without_products_sends_no_products() -> None:
    update = _features({"subscription_management": {"update_quantities": True}})[
        "subscription_update"
    ]
    assert "products" not in update
    assert update["default_allowed_updates"] == ["quantity"]


def test_promotion_codes_join_the_allowed_updates() -> None:
    update = _features(
        {
            "subscription_management": {
                "switch_plans": True,
                "update_quantities": True,
                "products": PRODUCTS,
                "promotion_codes_on_update": True,
            }
        }
    )["subscription_update"]
    assert update["default_allowed_updates"] == ["price", "quantity", "promotion_code"]


@pytest.mark.parametrize(
    ("choice", "stripe_value"),
    [("off", "none"), ("charge_now", "always_invoice"), ("next_invoice", "create_prorations")],
)
def test_prorate_changes_maps_to_stripe_proration_behavior(choice: str, stripe_value: str) -> None:
    assert PRORATION_BEHAVIOR[choice] == stripe_value  # type: ignore[index]
    update = _features(
        {"subscription_management": {"update_quantities": True, "prorate_changes": choice}}
    )["subscription_update"]
    assert update["proration_behavior"] == stripe_value


@pytest.mark.parametrize(
    ("conditions", "compiled"),
    [
        (
            ["decreasing_item_amount", "shortening_interval"],
            [{"type": "decreasing_item_amount"}, {"type": "shortening_interval"}],
        ),
        (["shortening_interval"], [{"type": "shortening_interval"}]),
    ],
)
def test_scheduled_downgrades_compile_their_conditions(
    conditions: list[str], compiled: list[dict[str, str]]
) -> None:
    update = _features(
        {
            "subscription_management": {
                "update_quantities": True,
                "downgrades": "schedule_at_period_end",
                "schedule_conditions": conditions,
            }
        }
    )["subscription_update"]
    assert update["schedule_at_period_end"] == {"conditions": compiled}


def test_immediate_downgrades_send_no_conditions_whatever_is_stored() -> None:
    update = _features(
        {
            "subscription_management": {
                "update_quantities": True,
                "schedule_conditions": ["shortening_interval"],
            }
        }
    )["subscription_update"]
    assert update["schedule_at_period_end"] == {"conditions": []}


def test_subscription_update_options_are_not_sent_while_updates_are_off() -> None:
    features = _features(
        {
            "subscription_management": {
                "products": PRODUCTS,
                "prorate_changes": "charge_now",
                "promotion_codes_on_update": True,
            }
        }
    )
    assert features["subscription_update"] == {"enabled": False}


@pytest.mark.parametrize(
    ("cancellations", "compiled"),
    [
        ({"cancel_subscriptions": False, "cancellation_reason": False}, {"enabled": False}),
        (
            {"cancel_mode": "immediately"},
            {
                "enabled": True,
                "mode": "immediately",
                "proration_behavior": "none",
                "cancellation_reason": {"enabled": True, "options": list(CANCELLATION_REASONS)},
            },
        ),
        (
            {"cancel_mode": "immediately", "cancel_proration": "create_prorations"},
            {
                "enabled": True,
                "mode": "immediately",
                "proration_behavior": "create_prorations",
                "cancellation_reason": {"enabled": True, "options": list(CANCELLATION_REASONS)},
            },
        ),
        (
            {"cancellation_reason": False},
            {
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
                "cancellation_reason": {"enabled": False, "options": list(CANCELLATION_REASONS)},
            },
        ),
        (
            {"cancellation_reason": False, "cancellation_reason_options": []},
            {
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
                "cancellation_reason": {"enabled": False, "options": ""},
            },
        ),
        (
            {"cancellation_reason_options": ["unused", "other"]},
            {
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
                "cancellation_reason": {"enabled": True, "options": ["unused", "other"]},
            },
        ),
    ],
)
def test_cancellations_compile(cancellations: dict[str, Any], compiled: dict[str, Any]) -> None:
    assert _features({"cancellations": cancellations})["subscription_cancel"] == compiled


def test_retention_coupon_is_not_a_configuration_field() -> None:
    params = compile_configuration(_doc(FULLY_LOADED))
    assert "STAY20" not in json.dumps(params)


@pytest.mark.parametrize(
    ("billing", "compiled"),
    [
        ({"billing_information": False}, {"enabled": False}),
        (
            {"allowed_fields": {"shipping": True, "tax_id": True}},
            {
                "enabled": True,
                "allowed_updates": ["name", "email", "address", "phone", "shipping", "tax_id"],
            },
        ),
        (
            {"allowed_fields": {"name": False, "phone": False}},
            {"enabled": True, "allowed_updates": ["email", "address"]},
        ),
    ],
)
def test_billing_information_compiles(billing: dict[str, Any], compiled: dict[str, Any]) -> None:
    assert _features({"customer_billing": billing})["customer_update"] == compiled


def test_payment_methods_and_invoice_history_compile() -> None:
    features = _features(
        {
            "customer_billing": {"payment_methods": False},
            "invoice_history": {"invoice_history": False},
        }
    )
    assert features["payment_method_update"] == {"enabled": False}
    assert features["invoice_history"] == {"enabled": False}


def test_customisation_compiles_to_business_profile_and_return_url() -> None:
    params = compile_configuration(_doc(FULLY_LOADED))
    assert params["business_profile"] == {
        "headline": "Manage your Acme plan",
        "privacy_policy_url": "https://acme.example/privacy",
        "terms_of_service_url": "https://acme.example/terms",
    }
    assert params["default_return_url"] == "https://acme.example/account"
    # Recorded only: neither is a configuration field.
    assert "billing.acme.example" not in json.dumps(params)
    assert "metadata" not in params


def test_update_params_unset_what_the_document_leaves_empty() -> None:
    params = compile_configuration_update(
        _doc({"subscription_management": {"update_quantities": True}})
    )
    assert params["business_profile"] == {
        "headline": "",
        "privacy_policy_url": "",
        "terms_of_service_url": "",
    }
    assert params["default_return_url"] == ""
    update = params["features"]["subscription_update"]
    assert update["products"] == ""
    assert update["schedule_at_period_end"] == {"conditions": ""}


def test_update_params_keep_what_is_set() -> None:
    doc = _doc(FULLY_LOADED)
    assert compile_configuration_update(doc) == compile_configuration(doc)


# ---------------------------------------------------------------- options beyond the seed


def test_trial_and_anchor_compile_only_while_updates_are_on() -> None:
    on = {"update_quantities": True}
    chosen = {"trial_update_behavior": "continue_trial", "billing_cycle_anchor": "now"}
    update = compile_configuration(_doc({"subscription_management": on | chosen}))["features"][
        "subscription_update"
    ]
    assert update["trial_update_behavior"] == "continue_trial"
    assert update["billing_cycle_anchor"] == "now"
    # At Stripe's defaults a create leaves them out; an update states them.
    default = _doc({"subscription_management": on})
    assert (
        "trial_update_behavior"
        not in compile_configuration(default)["features"]["subscription_update"]
    )
    update = compile_configuration_update(default)["features"]["subscription_update"]
    assert (update["trial_update_behavior"], update["billing_cycle_anchor"]) == (
        "end_trial",
        "unchanged",
    )
    # With updates off only `enabled` goes, whatever is stored (validation refuses it first).
    off = _doc({"subscription_management": chosen})
    assert compile_configuration(off)["features"]["subscription_update"] == {"enabled": False}
    assert compile_configuration_update(off)["features"]["subscription_update"] == {
        "enabled": False
    }


def test_pausing_compiles_to_the_subscription_pause_feature() -> None:
    paused = _doc({"subscription_management": {"pause_subscriptions": True}})
    assert compile_configuration(paused)["features"]["subscription_pause"] == {"enabled": True}
    assert compile_configuration_update(paused)["features"]["subscription_pause"] == {
        "enabled": True
    }
    assert "subscription_pause" not in compile_configuration(_doc({}))["features"]
    # An update turns it off explicitly, or a configuration once paused would stay so.
    assert compile_configuration_update(_doc({}))["features"]["subscription_pause"] == {
        "enabled": False
    }


def test_feedback_options_join_the_cancellation_reason() -> None:
    doc = _doc({"cancellations": {"cancellation_feedback_options": ["bfo_a", "bfo_b"]}})
    reason = compile_configuration(doc)["features"]["subscription_cancel"]["cancellation_reason"]
    assert reason["feedback_options"] == ["bfo_a", "bfo_b"]
    assert reason["options"] == list(CANCELLATION_REASONS)
    empty = compile_configuration(_doc({}))["features"]["subscription_cancel"]
    assert "feedback_options" not in empty["cancellation_reason"]
    unset = compile_configuration_update(_doc({}))["features"]["subscription_cancel"]
    assert unset["cancellation_reason"]["feedback_options"] == ""
    off = _doc(
        {
            "cancellations": {
                "cancel_subscriptions": False,
                "cancellation_reason": False,
                "cancellation_feedback_options": ["bfo_a"],
            }
        }
    )
    assert compile_configuration_update(off)["features"]["subscription_cancel"] == {
        "enabled": False
    }


def test_payment_method_configuration_rides_on_payment_method_updates() -> None:
    doc = _doc({"customer_billing": {"payment_method_configuration": "pmc_123"}})
    assert compile_configuration(doc)["features"]["payment_method_update"] == {
        "enabled": True,
        "payment_method_configuration": "pmc_123",
    }
    assert compile_configuration(_doc({}))["features"]["payment_method_update"] == {"enabled": True}
    # "" is Stripe's "back to the default payment method configuration".
    assert compile_configuration_update(_doc({}))["features"]["payment_method_update"] == {
        "enabled": True,
        "payment_method_configuration": "",
    }
    off = _doc({"customer_billing": {"payment_methods": False}})
    assert compile_configuration_update(off)["features"]["payment_method_update"] == {
        "enabled": False
    }


def test_name_and_login_page_compile_to_the_configuration() -> None:
    doc = _doc({"customisation": {"configuration_name": "Acme portal", "login_page": True}})
    params = compile_configuration(doc)
    assert params["name"] == "Acme portal"
    assert params["login_page"] == {"enabled": True}
    assert compile_configuration_update(doc)["login_page"] == {"enabled": True}
    default = compile_configuration(_doc({}))
    assert "name" not in default and "login_page" not in default
    # An update unsets the name and switches the link off (Stripe deactivates the URL).
    update = compile_configuration_update(_doc({}))
    assert (update["name"], update["login_page"]) == ("", {"enabled": False})


def test_quantity_limits_are_sent_only_for_an_adjustable_quantity() -> None:
    fixed = {"enabled": False, "minimum": 2, "maximum": 9}
    doc = _doc(
        {
            "subscription_management": {
                "update_quantities": True,
                "products": [{"product": "p", "prices": ["x"], "adjustable_quantity": fixed}],
            }
        }
    )
    [product] = compile_configuration(doc)["features"]["subscription_update"]["products"]
    assert product["adjustable_quantity"] == {"enabled": False}


def test_documents_saved_before_the_new_options_keep_their_configuration() -> None:
    """A stored document without the new keys reads at Stripe's defaults and compiles as before."""
    doc = _doc(FULLY_LOADED)
    new_leaves: dict[str, set[str]] = {}
    for path in STRIPE_API_DEFAULTS:
        group, leaf = path.rsplit(".", 1)
        new_leaves.setdefault(group, set()).add(leaf)
    old = {
        group: {k: v for k, v in fields.items() if k not in new_leaves.get(group, set())}
        for group, fields in msgspec.to_builtins(doc).items()
    }
    read = msgspec.convert(old, PortalSettings)
    values = leaf_values(read)
    assert {p: values[p] for p in STRIPE_API_DEFAULTS} == STRIPE_API_DEFAULTS
    before = leaf_values(doc)
    assert {p: v for p, v in values.items() if p not in STRIPE_API_DEFAULTS} == {
        p: v for p, v in before.items() if p not in STRIPE_API_DEFAULTS
    }
    # None of the new parameters appears, so the create params (and the content
    # hash that shares configurations) are what they were before these options.
    params = compile_configuration(read)
    features = params["features"]
    assert "name" not in params and "login_page" not in params
    assert "subscription_pause" not in features
    assert "payment_method_configuration" not in features["payment_method_update"]
    assert "feedback_options" not in features["subscription_cancel"]["cancellation_reason"]
    assert not {"trial_update_behavior", "billing_cycle_anchor"} & set(
        features["subscription_update"]
    )


def test_compiling_does_not_share_lists_with_the_document() -> None:
    doc = _doc(FULLY_LOADED)
    compile_configuration(doc)["features"]["subscription_update"]["products"][0]["prices"].clear()
    compile_configuration_update(doc)["features"]["subscription_cancel"]["cancellation_reason"][
        "options"
    ].clear()
    assert doc.subscription_management.products[0].prices == ["price_basic_m", "price_basic_y"]
    assert doc.cancellations.cancellation_reason_options == ["too_expensive", "other"]


# ---------------------------------------------------------------- content hash


def test_content_hash_is_stable_and_ignores_key_order_and_tags() -> None:
    compiled = compile_configuration(_doc(FULLY_LOADED))
    reordered = json.loads(json.dumps(compiled, sort_keys=True))
    tagged = compiled | {"metadata": {"platform_service_account": "acct_1"}, "expand": ["x"]}
    assert content_hash(compiled) == content_hash(reordered) == content_hash(tagged)
    assert len(content_hash(compiled)) == 64
    assert content_hash(COMPILED_WHEN_ALL_DEFAULT) == content_hash(
        compile_configuration(PortalSettings())
    )


@given(flat_patches, flat_patches)
def test_content_hash_differs_exactly_when_the_params_differ(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    ca = compile_configuration(settings_from_patch(_patch(_nest(a))))
    cb = compile_configuration(settings_from_patch(_patch(_nest(b))))
    assert (content_hash(ca) == content_hash(cb)) == (ca == cb)


# ---------------------------------------------------------------- against the SDK's types


def test_the_default_document_compiles_to_params_the_sdk_types_accept() -> None:
    assert _sdk_errors(PortalSettings()) == []


def test_a_fully_loaded_document_compiles_to_params_the_sdk_types_accept() -> None:
    doc = _doc(FULLY_LOADED)
    assert validate(doc) == []
    assert _sdk_errors(doc) == []


ids = st.from_regex(r"[a-z]{2,5}_[A-Za-z0-9]{1,10}", fullmatch=True)


@st.composite
def valid_documents(draw: st.DrawFn) -> PortalSettings:
    switch = draw(st.booleans())
    quantities = draw(st.booleans())
    updates = switch or quantities
    n_products = draw(st.integers(min_value=1 if switch else 0, max_value=10))
    products = []
    for i in range(n_products):
        minimum = draw(st.none() | st.integers(min_value=0, max_value=5))
        maximum = draw(st.none() | st.integers(min_value=max(1, minimum or 0), max_value=100))
        quantity = draw(
            st.none()
            | st.just(
                AdjustableQuantity(enabled=draw(st.booleans()), minimum=minimum, maximum=maximum)
            )
        )
        prices = [f"price_{i}_{j}" for j in range(draw(st.integers(1, 3)))]
        products.append(
            PortalProduct(product=f"prod_{i}", prices=prices, adjustable_quantity=quantity)
        )
    cancel = draw(st.booleans())
    mode = draw(st.sampled_from(["at_period_end", "immediately"]))
    reason = cancel and draw(st.booleans())
    retention = cancel and draw(st.booleans())
    billing = draw(st.booleans())
    fields = draw(
        st.fixed_dictionaries(
            {f: st.booleans() for f in ("name", "email", "address", "phone", "shipping", "tax_id")}
        )
    )
    if billing and not any(fields.values()):
        fields["email"] = True
    payment_methods = draw(st.booleans())
    url = st.none() | st.sampled_from(
        ["https://a.example/x", "https://b.example", "http://localhost:8000/r"]
    )
    patch = {
        "subscription_management": {
            "switch_plans": switch,
            "update_quantities": quantities,
            "products": msgspec.to_builtins(products),
            "prorate_changes": draw(st.sampled_from(["off", "charge_now", "next_invoice"]))
            if updates
            else "off",
            "downgrades": draw(st.sampled_from(["update_immediately", "schedule_at_period_end"]))
            if updates
            else "update_immediately",
            "schedule_conditions": draw(
                st.lists(
                    st.sampled_from(["decreasing_item_amount", "shortening_interval"]),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            ),
            "promotion_codes_on_update": updates and draw(st.booleans()),
            "trial_update_behavior": draw(st.sampled_from(["end_trial", "continue_trial"]))
            if updates
            else "end_trial",
            "billing_cycle_anchor": draw(st.sampled_from(["unchanged", "now"]))
            if updates
            else "unchanged",
            "pause_subscriptions": draw(st.booleans()),
        },
        "cancellations": {
            "cancel_subscriptions": cancel,
            "cancel_mode": mode,
            "cancel_proration": draw(st.sampled_from(["none", "create_prorations"]))
            if cancel and mode == "immediately"
            else "none",
            "cancellation_reason": reason,
            "cancellation_reason_options": draw(
                st.lists(st.sampled_from(CANCELLATION_REASONS), min_size=1, max_size=8, unique=True)
            ),
            "retention_coupon": retention,
            "retention_coupon_id": draw(ids) if retention else draw(st.none() | ids),
            "cancellation_feedback_options": draw(st.lists(ids, max_size=3, unique=True)),
        },
        "customer_billing": {
            "billing_information": billing,
            "allowed_fields": fields,
            "payment_methods": payment_methods,
            "payment_method_configuration": draw(
                st.none() | st.from_regex(r"pmc_[A-Za-z0-9]{1,24}", fullmatch=True)
            )
            if payment_methods
            else None,
        },
        "customisation": {
            "headline": draw(st.none() | st.text(min_size=1, max_size=60).filter(str.strip)),
            "terms_of_service_url": draw(url),
            "privacy_policy_url": draw(url),
            "default_return_url": draw(url),
            "custom_domain": draw(st.none() | st.just("billing.shop.example")),
            "business_name": draw(st.text(min_size=1, max_size=40).filter(str.strip)),
            "configuration_name": draw(
                st.none() | st.text(min_size=1, max_size=40).filter(str.strip)
            ),
            "login_page": draw(st.booleans()),
        },
        "invoice_history": {"invoice_history": draw(st.booleans())},
    }
    return settings_from_patch(_patch(patch))


@settings(max_examples=300)
@given(valid_documents())
def test_valid_documents_compile_to_params_the_sdk_types_accept(doc: PortalSettings) -> None:
    assume(validate(doc) == [])
    assert _sdk_errors(doc) == []
    # What compiles must also survive the wire: JSON-able and hash-stable.
    compiled = compile_configuration(doc)
    assert content_hash(json.loads(json.dumps(compiled))) == content_hash(compiled)


def test_the_generator_of_valid_documents_mostly_yields_valid_ones() -> None:
    found: list[bool] = []

    @settings(max_examples=100, database=None)
    @given(valid_documents())
    def sample(doc: PortalSettings) -> None:
        found.append(validate(doc) == [])

    sample()
    assert sum(found) >= 0.9 * len(found)
