"""The standalone sandbox in its own process, driven by the plain SDK."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import stripe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "platform_service.sandbox", "--port", str(port), "--demo",
         "--rate-limit", "50", "--latency-ms", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/_sandbox/faults", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"standalone sandbox did not start: {output}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_plain_sdk_against_standalone_sandbox(standalone: str) -> None:
    client = stripe.StripeClient(
        "sk_test_anything",
        base_addresses={"api": standalone, "files": standalone, "connect": standalone},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=0,
    )
    accounts = client.v1.accounts.list({"limit": 100}).data
    assert len(accounts) >= 5  # --demo seeded sellers in several states
    states = {a.requirements.disabled_reason for a in accounts if a.requirements}
    assert {None, "under_review", "requirements.past_due"} <= states
    seller = next(a for a in accounts if a.charges_enabled)
    opts: stripe.RequestOptions = {"stripe_account": seller.id}
    customers = client.v1.customers.list({"limit": 3}, opts).data
    assert customers
    products = client.v1.products.list({}, opts).data
    prices = client.v1.prices.list({"product": products[0].id}, opts).data
    config = client.v1.billing_portal.configurations.create(
        {"features": {"subscription_update": {"enabled": True,
                                              "default_allowed_updates": ["price"],
                                              "products": [{"product": products[0].id,
                                                            "prices": [p.id for p in prices]}]}}},
        opts,
    )  # fmt: skip
    session = client.v1.billing_portal.sessions.create(
        {"customer": customers[0].id, "configuration": config.id, "return_url": "https://x.io"},
        opts,
    )
    page = httpx.get(session.url)
    assert page.status_code == 200 and "Sandbox" in page.text
    resp = httpx.get(standalone + "/v1/account", headers={"Authorization": "Bearer sk_test_x"})
    assert resp.headers["stripe-sandbox"] == "platform_service"
