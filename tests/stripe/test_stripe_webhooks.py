"""Webhook verification through the gateway, with headers signed as Stripe signs them."""

import json
import time

import pytest
import stripe

from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import StripeGateway

OLD_SECRET = "whsec_old"
NEW_SECRET = "whsec_new"
PAYLOAD = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "account.updated",
        "account": "acct_1",
        "api_version": "2026-10-28.endive",
        "created": 1,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": {"id": "acct_1", "object": "account", "charges_enabled": True}},
    }
).encode()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=timestamp or int(time.time())
    )


@pytest.fixture
def gateway():
    # construct_event makes no HTTP call; the key is never used.
    return StripeGateway(secret_key="sk_test_unused")


def test_event_signed_with_the_current_secret_is_returned_as_plain_data(gateway):
    event = gateway.construct_event(PAYLOAD, sign(PAYLOAD, NEW_SECRET), [NEW_SECRET])
    assert type(event) is dict
    assert event["id"] == "evt_1"
    assert event["account"] == "acct_1"
    assert type(event["data"]["object"]) is dict
    assert event["data"]["object"]["charges_enabled"] is True


def test_any_of_several_secrets_verifies_during_rotation(gateway):
    secrets = [NEW_SECRET, OLD_SECRET]
    assert gateway.construct_event(PAYLOAD, sign(PAYLOAD, OLD_SECRET), secrets)["id"] == "evt_1"
    assert gateway.construct_event(PAYLOAD, sign(PAYLOAD, NEW_SECRET), secrets)["id"] == "evt_1"


def test_header_with_both_signatures_verifies(gateway):
    ts = int(time.time())
    old = sign(PAYLOAD, OLD_SECRET, ts)
    new_v1 = sign(PAYLOAD, NEW_SECRET, ts).split(",v1=")[1]
    header = f"{old},v1={new_v1}"
    assert gateway.construct_event(PAYLOAD, header, [NEW_SECRET])["id"] == "evt_1"


@pytest.mark.parametrize(
    ("header", "secrets", "code"),
    [
        (lambda: sign(PAYLOAD, "whsec_other"), [NEW_SECRET, OLD_SECRET], "signature_invalid"),
        (
            lambda: sign(PAYLOAD, NEW_SECRET, int(time.time()) - 301),
            [NEW_SECRET],
            "signature_invalid",
        ),
        (lambda: "garbage", [NEW_SECRET], "signature_invalid"),
        (lambda: "", [NEW_SECRET], "missing_signature"),
        (lambda: sign(PAYLOAD, NEW_SECRET), [], "no_secret"),
        (lambda: sign(PAYLOAD, NEW_SECRET), [""], "no_secret"),
    ],
    ids=["wrong-secret", "too-old", "malformed", "missing", "no-secrets", "blank-secret"],
)
def test_untrusted_webhooks_raise_the_signature_error(gateway, header, secrets, code):
    with pytest.raises(StripeGatewayError) as info:
        gateway.construct_event(PAYLOAD, header(), secrets)
    assert info.value.kind is StripeErrorKind.SIGNATURE
    assert info.value.code == code
    assert info.value.retryable is False


def test_tampered_body_fails_verification(gateway):
    header = sign(PAYLOAD, NEW_SECRET)
    with pytest.raises(StripeGatewayError) as info:
        gateway.construct_event(PAYLOAD.replace(b"acct_1", b"acct_2"), header, [NEW_SECRET])
    assert info.value.kind is StripeErrorKind.SIGNATURE


def test_signed_but_unparseable_payload_is_a_signature_error(gateway):
    payload = b"{not json"
    with pytest.raises(StripeGatewayError) as info:
        gateway.construct_event(payload, sign(payload, NEW_SECRET), [NEW_SECRET])
    assert info.value.kind is StripeErrorKind.SIGNATURE
    assert info.value.code == "invalid_payload"


def test_tolerance_is_configurable(gateway):
    header = sign(PAYLOAD, NEW_SECRET, int(time.time()) - 1000)
    assert gateway.construct_event(PAYLOAD, header, [NEW_SECRET], tolerance=2000)["id"] == "evt_1"
