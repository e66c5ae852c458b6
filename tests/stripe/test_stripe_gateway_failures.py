"""Stripe's failures over the wire: error mapping, the SDK's retries, idempotency keys."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from platform_service.sandbox.server import SandboxServer
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import StripeGateway, carries
from platform_service.stripe.idempotency import idempotency_key
from tests.stripe.support import SandboxAdmin, key, make_account


async def _fails(awaitable: Any) -> StripeGatewayError:
    with pytest.raises(StripeGatewayError) as info:
        await awaitable
    return info.value


# -- error mapping -------------------------------------------------------------------


async def test_unknown_parameter_is_invalid_request_with_param_and_not_retried(
    gateway: StripeGateway, admin: SandboxAdmin
):
    mark = admin.mark()
    params: Any = {"email": "x@example.com", "bogus_field": "1"}
    err = await _fails(
        gateway.create_customer(params, stripe_account=None, idempotency_key=key("bad"))
    )
    assert err.kind is StripeErrorKind.INVALID_REQUEST
    assert (err.http_status, err.code, err.param) == (400, "parameter_unknown", "bogus_field")
    assert err.retryable is False
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert len(admin.requests_since(mark)) == 1


async def test_wrong_enum_in_a_nested_portal_feature_names_the_path(
    gateway: StripeGateway, admin: SandboxAdmin
):
    params: Any = {
        "features": {"subscription_cancel": {"enabled": True, "mode": "whenever"}},
    }
    err = await _fails(
        gateway.create_portal_configuration(
            params, stripe_account=None, idempotency_key=key("enum")
        )
    )
    assert err.kind is StripeErrorKind.INVALID_REQUEST
    assert err.param == "features[subscription_cancel][mode]"


async def test_missing_object_is_resource_missing(gateway: StripeGateway):
    err = await _fails(gateway.retrieve_customer("cus_missing", stripe_account=None))
    assert err.kind is StripeErrorKind.RESOURCE_MISSING
    assert (err.http_status, err.code) == (404, "resource_missing")
    assert err.retryable is False


async def test_bad_key_is_authentication_and_fails_ping(sandbox: SandboxServer):
    gateway = StripeGateway(secret_key="sk_live_not_for_the_sandbox", api_base=sandbox.url)
    try:
        err = await _fails(gateway.ping())
    finally:
        await gateway.aclose()
    assert err.kind is StripeErrorKind.AUTHENTICATION
    assert err.http_status == 401
    assert err.code == "api_key_invalid"  # read from error.code: the exception leaves it None
    assert err.retryable is False


async def test_ping_succeeds_with_a_good_key(gateway: StripeGateway, admin: SandboxAdmin):
    mark = admin.mark()
    assert await gateway.ping() is None
    [sent] = admin.requests_since(mark)
    assert (sent["method"], sent["path"], sent["stripe_account"]) == ("GET", "/v1/account", None)


async def test_unknown_stripe_account_is_account_invalid(gateway: StripeGateway):
    err = await _fails(gateway.retrieve_customer("cus_x", stripe_account="acct_notconnected"))
    assert err.kind is StripeErrorKind.ACCOUNT_INVALID
    assert (err.http_status, err.code) == (403, "account_invalid")
    assert err.stripe_account == "acct_notconnected"
    assert err.retryable is False


async def test_deauthorized_account_is_account_invalid(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    admin.deauthorize(account["id"])
    err = await _fails(gateway.retrieve_current_account(stripe_account=account["id"]))
    assert err.kind is StripeErrorKind.ACCOUNT_INVALID
    assert err.stripe_account == account["id"]


async def test_plain_429_is_rate_limited_and_left_to_the_caller(
    gateway: StripeGateway, admin: SandboxAdmin
):
    admin.inject("rate_limit", 1, method="POST", path="/v1/customers")
    idem = key("429")
    mark = admin.mark()
    err = await _fails(gateway.create_customer({}, stripe_account=None, idempotency_key=idem))
    assert err.kind is StripeErrorKind.RATE_LIMITED
    assert (err.http_status, err.code) == (429, "rate_limit")
    assert err.retryable is True
    assert err.should_retry_header is None
    assert err.rate_limited_reason == "global-rate"
    # The SDK never retries a plain 429, and the gateway adds no loop of its own.
    assert len(admin.requests_since(mark, "/v1/customers")) == 1
    # The bulk job's retry, with the same key, goes through once the burst is over.
    customer = await gateway.create_customer({}, stripe_account=None, idempotency_key=idem)
    assert customer["id"].startswith("cus_")


async def test_a_burst_of_account_creations_waits_out_stripes_throttle(
    gateway: StripeGateway, admin: SandboxAdmin
):
    admin.faults(account_create_rate=2)
    mark = admin.mark()
    created = [await make_account(gateway) for _ in range(4)]
    assert len({a["id"] for a in created}) == 4
    statuses = [e["status"] for e in admin.requests_since(mark, "/v1/accounts")]
    # Stripe's 400 came back and the gateway waited, then sent the same request again.
    assert 400 in statuses and statuses.count(200) == 4


async def test_a_throttle_that_lasts_surfaces_as_the_400_rate_limit(
    gateway: StripeGateway, admin: SandboxAdmin
):
    # One creation per 20 s: longer than the gateway waits.
    admin.faults(account_create_rate=0.05)
    await make_account(gateway)
    mark = admin.mark()
    err = await _fails(make_account(gateway))
    assert err.kind is StripeErrorKind.RATE_LIMITED
    assert (err.http_status, err.code) == (400, "rate_limit")
    assert err.retryable is True
    statuses = [e["status"] for e in admin.requests_since(mark, "/v1/accounts")]
    assert statuses == [400] * 5


async def test_reused_key_with_other_params_is_an_idempotency_conflict(
    gateway: StripeGateway, admin: SandboxAdmin
):
    idem = key("conflict")
    await gateway.create_customer({"email": "a@example.com"}, stripe_account=None,
                                  idempotency_key=idem)  # fmt: skip
    err = await _fails(
        gateway.create_customer(
            {"email": "b@example.com"}, stripe_account=None, idempotency_key=idem
        )
    )
    assert err.kind is StripeErrorKind.IDEMPOTENCY_CONFLICT
    assert err.http_status == 400
    assert err.retryable is False
    assert admin.applied(idem) == 1


async def test_concurrent_use_of_one_key_is_idempotency_in_flight(
    sandbox: SandboxServer, admin: SandboxAdmin
):
    # No SDK retries here: with them the 409 would be retried into a success.
    gateway = StripeGateway(
        secret_key=sandbox.secret_key, api_base=sandbox.url, max_network_retries=0
    )
    admin.faults(latency_ms=400)
    idem = key("inflight")
    try:
        results = await asyncio.gather(
            gateway.create_customer({}, stripe_account=None, idempotency_key=idem),
            _delayed(gateway.create_customer({}, stripe_account=None, idempotency_key=idem)),
            return_exceptions=True,
        )
    finally:
        await gateway.aclose()
    ok, err = results
    assert isinstance(ok, dict)
    assert isinstance(err, StripeGatewayError)
    assert err.kind is StripeErrorKind.IDEMPOTENCY_IN_FLIGHT
    assert (err.http_status, err.code) == (409, "idempotency_key_in_use")
    assert err.retryable is True


async def _delayed(awaitable: Any) -> Any:
    await asyncio.sleep(0.1)
    return await awaitable


async def test_unreachable_stripe_is_a_connection_error():
    gateway = StripeGateway(
        secret_key="sk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0
    )
    try:
        err = await _fails(gateway.ping())
    finally:
        await gateway.aclose()
    assert err.kind is StripeErrorKind.CONNECTION
    assert err.http_status is None
    assert err.retryable is True


# -- the SDK's retries -----------------------------------------------------------------


async def test_500s_are_retried_with_the_same_idempotency_key(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    path = f"/v1/accounts/{account['id']}"
    admin.inject("500", 2, method="POST", path=path)
    idem = key("retry500")
    mark = admin.mark()
    updated = await gateway.update_account(
        account["id"], {"metadata": {"tier": "gold"}}, idempotency_key=idem
    )
    assert updated["metadata"] == {"tier": "gold"}
    attempts = admin.requests_since(mark, path)
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert {a["idempotency_key"] for a in attempts} == {idem}
    assert admin.applied(idem) == 1


async def test_persistent_500s_surface_as_upstream_unavailable_after_the_retries(
    gateway: StripeGateway, admin: SandboxAdmin
):
    admin.inject("500", 5, method="POST", path="/v1/customers")
    idem = key("down")
    mark = admin.mark()
    err = await _fails(gateway.create_customer({}, stripe_account=None, idempotency_key=idem))
    assert err.kind is StripeErrorKind.UPSTREAM_UNAVAILABLE
    assert err.http_status == 500
    assert err.retryable is True
    attempts = admin.requests_since(mark, "/v1/customers")
    assert len(attempts) == 3  # max_network_retries=2
    assert {a["idempotency_key"] for a in attempts} == {idem}
    assert admin.applied(idem) == 0


async def test_a_500_after_the_write_is_confirmed_by_reading_back_and_not_resent(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    path = f"/v1/accounts/{account['id']}"
    admin.inject("500_after_apply", 1, method="POST", path=path)
    idem = key("lost")
    mark = admin.mark()
    updated = await gateway.update_account(
        account["id"], {"metadata": {"n": "1"}}, idempotency_key=idem
    )
    assert updated["metadata"] == {"n": "1"}
    sent = admin.requests_since(mark, path)
    # Stripe replays the stored 500 to the SDK's retries; the read shows the write.
    assert [(e["method"], e["status"], e["replayed"]) for e in sent] == [
        ("POST", 500, False),
        ("POST", 500, True),
        ("POST", 500, True),
        ("GET", 200, False),
    ]
    assert {e["idempotency_key"] for e in sent if e["method"] == "POST"} == {idem}
    assert admin.applied(idem) == 1


async def test_a_stored_500_that_changed_nothing_is_written_again_under_a_derived_key(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    path = f"/v1/accounts/{account['id']}"
    admin.inject("500_stored", 1, method="POST", path=path)
    idem = key("burned")
    params: Any = {"settings": {"branding": {"primary_color": "#0A2540"}}}
    updated = await gateway.update_account(account["id"], params, idempotency_key=idem)
    assert updated["settings"]["branding"]["primary_color"] == "#0A2540"
    assert (admin.applied(idem), admin.applied(f"{idem}:r1")) == (0, 1)
    # A re-run (a worker that died before recording success) meets the stored 500
    # again, and the read finds the write there: nothing is sent twice.
    mark = admin.mark()
    again = await gateway.update_account(account["id"], params, idempotency_key=idem)
    assert again["settings"] == updated["settings"]
    posts = [e for e in admin.requests_since(mark, path) if e["method"] == "POST"]
    assert {(e["idempotency_key"], e["status"], e["replayed"]) for e in posts} == {
        (idem, 500, True)
    }
    assert (admin.applied(idem), admin.applied(f"{idem}:r1")) == (0, 1)


async def test_a_fresh_500_that_changed_nothing_is_left_to_the_caller(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    path = f"/v1/accounts/{account['id']}"
    admin.inject("500", 3, method="POST", path=path)
    idem = key("down")
    mark = admin.mark()
    err = await _fails(
        gateway.update_account(account["id"], {"metadata": {"d": "1"}}, idempotency_key=idem)
    )
    assert err.kind is StripeErrorKind.UPSTREAM_UNAVAILABLE and err.retryable is True
    assert err.replayed is False
    # Not stored, so the same key may still be used: no derived key was sent.
    posts = [e for e in admin.requests_since(mark, path) if e["method"] == "POST"]
    assert {e["idempotency_key"] for e in posts} == {idem}
    await gateway.update_account(account["id"], {"metadata": {"d": "1"}}, idempotency_key=idem)
    assert admin.applied(idem) == 1


@pytest.mark.parametrize(
    ("obj", "params", "expected"),
    [
        ({"settings": {"branding": {"primary_color": "#0a2540"}}},
         {"settings": {"branding": {"primary_color": "#0A2540"}}}, True),
        ({"settings": {"branding": {"primary_color": "#0A2540"}}},
         {"settings": {"branding": {"primary_color": "#111111"}}}, False),
        ({"metadata": {"a": "1", "b": "2"}}, {"metadata": {"a": "1"}}, True),
        ({"metadata": {"a": "1"}}, {"metadata": {"b": ""}}, True),
        ({"metadata": {"b": "2"}}, {"metadata": {"b": ""}}, False),
        ({"business_profile": None}, {"business_profile": {"headline": ""}}, True),
        ({"allowed_updates": ["email", "address"]}, {"allowed_updates": ["address", "email"]},
         True),
        ({"allowed_updates": ["email"]}, {"allowed_updates": ["email", "address"]}, False),
        ({"products": [{"product": "prod_1", "prices": ["p2", "p1"],
                        "adjustable_quantity": {"enabled": False, "minimum": 1}}]},
         {"products": [{"product": "prod_1", "prices": ["p1", "p2"]}]}, True),
        ({"products": [{"product": "prod_2", "prices": ["p1"]}]},
         {"products": [{"product": "prod_1", "prices": ["p1"]}]}, False),
        ({"active": False}, {"active": True}, False),
    ],
)  # fmt: skip
def test_carries_reads_an_object_the_way_stripe_writes_params(
    obj: dict[str, Any], params: dict[str, Any], expected: bool
):
    assert carries(obj, params) is expected


async def test_portal_configuration_writes_survive_stored_500s(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    acct = account["id"]
    path = "/v1/billing_portal/configurations"
    params: Any = {
        "features": {"invoice_history": {"enabled": True}},
        "metadata": {"platform_portal_hash": key("h")},
    }
    admin.inject("500_after_apply", 1, method="POST", path=path)
    idem = key("cfg")
    created = await gateway.create_portal_configuration(
        params, stripe_account=acct, idempotency_key=idem
    )
    listed = await gateway.list_portal_configurations(stripe_account=acct)
    assert [c["id"] for c in listed] == [created["id"]]
    assert admin.applied(idem) == 1

    admin.inject("500_stored", 1, method="POST", path=f"{path}/{created['id']}")
    update: Any = {"features": {"invoice_history": {"enabled": False}}}
    up_key = key("cfg-up")
    changed = await gateway.update_portal_configuration(
        created["id"], update, stripe_account=acct, idempotency_key=up_key
    )
    assert changed["features"]["invoice_history"]["enabled"] is False
    assert (admin.applied(up_key), admin.applied(f"{up_key}:r1")) == (0, 1)


async def test_lock_timeout_is_retried_because_stripe_should_retry_says_true(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    path = f"/v1/accounts/{account['id']}"
    admin.inject("lock_timeout", 1, method="POST", path=path)
    mark = admin.mark()
    await gateway.update_account(account["id"], {"metadata": {"l": "1"}}, idempotency_key=key())
    assert [a["status"] for a in admin.requests_since(mark, path)] == [429, 200]


async def test_persistent_lock_timeout_is_retryable_and_reports_the_header(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    path = f"/v1/accounts/{account['id']}"
    admin.inject("lock_timeout", 5, method="POST", path=path)
    mark = admin.mark()
    err = await _fails(
        gateway.update_account(account["id"], {"metadata": {"l": "2"}}, idempotency_key=key())
    )
    assert err.kind is StripeErrorKind.LOCK_TIMEOUT
    assert (err.http_status, err.code) == (429, "lock_timeout")
    assert err.should_retry_header is True
    assert err.retryable is True
    assert err.stripe_account == account["id"]
    assert len(admin.requests_since(mark, path)) == 3


async def test_gateway_retry_budget_is_configurable(sandbox: SandboxServer, admin: SandboxAdmin):
    gateway = StripeGateway(
        secret_key=sandbox.secret_key, api_base=sandbox.url, max_network_retries=0
    )
    admin.inject("500", 1, method="POST", path="/v1/customers")
    mark = admin.mark()
    try:
        err = await _fails(gateway.create_customer({}, stripe_account=None, idempotency_key=key()))
    finally:
        await gateway.aclose()
    assert err.kind is StripeErrorKind.UPSTREAM_UNAVAILABLE
    assert len(admin.requests_since(mark, "/v1/customers")) == 1


# -- deterministic keys ----------------------------------------------------------------


async def test_a_rerun_with_the_derived_key_applies_the_change_once(
    gateway: StripeGateway, account: dict[str, Any], admin: SandboxAdmin
):
    job = key("job").split(":")[1]
    idem = idempotency_key("bulk", job, account["id"], 1)
    params: Any = {"settings": {"branding": {"primary_color": "#123456"}}}
    mark = admin.mark()
    first = await gateway.update_account(account["id"], params, idempotency_key=idem)
    # A worker killed after the write re-runs the item: same inputs, same key.
    again = await gateway.update_account(
        account["id"], params, idempotency_key=idempotency_key("bulk", job, account["id"], 1)
    )
    assert again == first
    sent = admin.requests_since(mark)
    assert [e["idempotency_key"] for e in sent] == [idem, idem]
    assert [e["replayed"] for e in sent] == [False, True]
    assert admin.applied(idem) == 1


async def test_the_gateway_never_invents_a_key_of_its_own(
    gateway: StripeGateway, admin: SandboxAdmin
):
    with pytest.raises(ValueError, match="idempotency_key"):
        await gateway.create_customer({}, stripe_account=None, idempotency_key="")
    with pytest.raises(ValueError, match="idempotency_key"):
        await gateway.create_customer({}, stripe_account=None, idempotency_key="k" * 256)
    # Reads carry no key at all.
    mark = admin.mark()
    await gateway.retrieve_current_account(stripe_account=None)
    assert admin.requests_since(mark)[0]["idempotency_key"] is None
