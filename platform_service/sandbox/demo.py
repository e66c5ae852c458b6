"""Demo data: connected accounts in each onboarding state, with a small catalogue,
customers and subscriptions, for the embedded default and for clicking around."""

from __future__ import annotations

from typing import Any

from platform_service.sandbox.resources import accounts, billing
from platform_service.sandbox.routing import Ctx
from platform_service.sandbox.state import SandboxState

DEMO_BASE_URL = "http://sandbox.invalid"

_SELLERS: list[tuple[str, str, str, str]] = [
    # (business name, dashboard, onboarding outcome or "new", primary colour)
    ("Acme Yoga Studio", "express", "complete", "#0A7D5A"),
    ("Blue Fern Bakery", "express", "requirements_due", "#1F4E9C"),
    ("Copper Kettle Tea", "none", "under_review", "#B5651D"),
    ("Delta Bike Repair", "express", "restricted", "#C0392B"),
    ("Echo Podcast Network", "full", "new", "#6C3483"),
]


def _ctx(state: SandboxState, account_id: str) -> Ctx:
    return Ctx(state, state.scope_for(account_id), DEMO_BASE_URL, "req_demo")


def _catalogue(ctx: Ctx, name: str, *, on_behalf_of: str | None = None) -> list[str]:
    """Two products with monthly prices, three customers, one subscription each."""
    prices = []
    for tier, amount in (("Basic", 900), ("Pro", 2900)):
        product = billing.create_product(ctx, {"name": f"{name} {tier}"}, {})
        price = billing.create_price(
            ctx,
            {
                "product": product["id"],
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": "month"},
            },
            {},
        )
        prices.append(price["id"])
    customers = []
    for i, person in enumerate(("Ada", "Grace", "Linus")):
        slug = name.lower().replace(" ", "")
        customer = billing.create_customer(
            ctx, {"name": person, "email": f"{person.lower()}@{slug}.example"}, {}
        )
        params: dict[str, Any] = {
            "customer": customer["id"],
            "items": [{"price": prices[i % 2]}],
        }
        if on_behalf_of:
            params["on_behalf_of"] = on_behalf_of
        billing.create_subscription(ctx, params, {})
        customers.append(customer["id"])
    return customers


def seed_demo(state: SandboxState) -> dict[str, Any]:
    """Create the demo sellers; returns their ids for whoever wants to print them."""
    platform = _ctx(state, state.platform_id)
    seeded: list[dict[str, Any]] = []
    for name, dashboard, outcome, color in _SELLERS:
        account = accounts.create_account(
            platform,
            {
                "controller": {"stripe_dashboard": {"type": dashboard}},
                "country": "US",
                "email": f"owner@{name.lower().replace(' ', '')}.example",
                "business_profile": {"name": name},
                "capabilities": {
                    "card_payments": {"requested": True},
                    "transfers": {"requested": True},
                },
                "settings": {"branding": {"primary_color": color, "secondary_color": "#F6F9FC"}},
                "metadata": {"demo": "true"},
            },
            {},
        )
        if outcome != "new":
            accounts.set_outcome(state, account, outcome)
        # Direct-charge sellers keep customers on their own account.
        customers = _catalogue(_ctx(state, account["id"]), name)
        seeded.append({"id": account["id"], "name": name, "state": outcome, "customers": customers})
    # Platform-side customers for destination charges, one with on_behalf_of.
    platform_customers = _catalogue(platform, "Platform Plans", on_behalf_of=seeded[0]["id"])
    return {
        "platform_account_id": state.platform_id,
        "accounts": seeded,
        "platform_customers": platform_customers,
    }
