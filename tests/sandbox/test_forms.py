"""Stripe's bracketed form encoding, decoded the way the SDK encodes it."""

from __future__ import annotations

from typing import Any

import pytest
from stripe._encode import _api_encode

from platform_service.sandbox.errors import StripeError
from platform_service.sandbox.forms import decode_pairs, decode_query


def roundtrip(params: dict[str, Any]) -> dict[str, Any]:
    return decode_pairs([(k, str(v)) for k, v in _api_encode(params)])


def test_nested_objects_and_indexed_lists_roundtrip_from_the_sdk_encoding() -> None:
    params = {
        "features": {
            "subscription_update": {
                "enabled": "true",
                "products": [{"product": "prod_1", "prices": ["price_1", "price_2"]}],
            }
        },
        "expand": ["configuration"],
        "metadata": {"a": "b"},
    }
    assert roundtrip(params) == params


def test_empty_brackets_append_like_other_clients_send() -> None:
    assert decode_query("expand[]=a&expand[]=b&x=") == {"expand": ["a", "b"], "x": ""}


def test_list_order_follows_the_index_not_arrival() -> None:
    assert decode_pairs([("a[1]", "y"), ("a[0]", "x")]) == {"a": ["x", "y"]}


def test_malformed_key_is_a_400_naming_it() -> None:
    with pytest.raises(StripeError) as info:
        decode_pairs([("a[b", "x")])
    assert info.value.param == "a[b"
