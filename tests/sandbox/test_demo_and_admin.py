"""Demo data, the index page and reset."""

from __future__ import annotations

import httpx
import stripe

from platform_service.sandbox.server import SandboxConfig, SandboxServer
from tests.fixtures.sandbox import client_for


def test_demo_seeds_sellers_in_each_state_and_reset_forgets_them() -> None:
    with SandboxServer(SandboxConfig(seed_demo=True)) as server:
        client = client_for(server)
        accounts = client.v1.accounts.list({"limit": 100}).data
        assert len(accounts) == 5
        assert {a.details_submitted for a in accounts} == {True, False}
        opts: stripe.RequestOptions = {"stripe_account": accounts[0].id}
        assert client.v1.subscriptions.list({}, opts).data
        platform_subs = client.v1.subscriptions.list().data
        assert any(s.on_behalf_of for s in platform_subs)

        index = httpx.get(server.url + "/")
        assert "Sandbox" in index.text and accounts[0].id in index.text

        reset = httpx.post(server.url + "/_sandbox/reset").json()
        assert reset["platform_account_id"] == server.platform_account_id
        assert client.v1.accounts.list().data == []
        seeded = httpx.post(server.url + "/_sandbox/demo").json()
        assert len(seeded["accounts"]) == 5


def test_unknown_route_is_stripes_404(sandbox: SandboxServer) -> None:
    resp = httpx.get(
        sandbox.url + "/v1/nothing_here", headers={"Authorization": f"Bearer {sandbox.secret_key}"}
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL" in resp.json()["error"]["message"]
