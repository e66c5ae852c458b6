"""The `v2.core.account` object derived from an account record (`v2_accounts.py`).

The v1 account dict is the source of truth for what both APIs show (name, email,
country, branding, capabilities, requirements, controller); the record adds what only
v2 has. Requirements map v1's lists to v2 entries: the worst list a field is on sets
its `minimum_deadline`, `pending_verification` waits on Stripe.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

SECTIONS = (
    "configuration.customer",
    "configuration.merchant",
    "configuration.recipient",
    "defaults",
    "future_requirements",
    "identity",
    "requirements",
)
_CAPABILITY = {"active": "active", "pending": "pending", "inactive": "restricted"}
_FEES = {"account": "stripe"}  # v1 fees.payer -> v2 fees_collector; others keep their name
_RANK = {"eventually_due": 0, "currently_due": 1, "past_due": 2}


def iso(t: float) -> str:
    """v2 timestamps: ISO-8601, UTC, milliseconds, `Z`."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def view(record: dict[str, Any], include: Any) -> dict[str, Any]:
    """The `v2.core.account` object; `include` names the sections to fill in."""
    base = record["base"]
    wanted = set(include or ())
    configs = {
        name: _config(record, name) if f"configuration.{name}" in wanted else None
        for name in ("customer", "merchant", "recipient")
    }
    any_config = any(f"configuration.{n}" in wanted for n in configs)
    dashboard = (base.get("controller") or {}).get("stripe_dashboard", {}).get("type")
    return copy.deepcopy(
        {
            "id": record["id"],
            "object": "v2.core.account",
            "applied_configurations": list(record["applied"]),
            "closed": record["closed"],
            "configuration": configs if any_config else None,
            "contact_email": base.get("email"),
            "contact_phone": record["contact_phone"],
            "created": record["created"],
            "dashboard": dashboard if {"merchant", "recipient"} & set(record["applied"]) else None,
            "defaults": _defaults(record) if "defaults" in wanted else None,
            "display_name": base["business_profile"].get("name"),
            "future_requirements": (
                _requirements(record, base.get("future_requirements"), future=True)
                if "future_requirements" in wanted
                else None
            ),
            "identity": _identity(record) if "identity" in wanted else None,
            "livemode": False,
            "metadata": dict(base.get("metadata") or {}),
            "requirements": (
                _requirements(record, base.get("requirements"))
                if "requirements" in wanted
                else None
            ),
        }
    )


def _status(value: str | None, base: dict[str, Any]) -> dict[str, Any]:
    """A v2 capability status, with the detail code Stripe gives for why it is not active
    (v1 says why in `requirements.disabled_reason`)."""
    status = _CAPABILITY.get(value or "", "restricted")
    reason = str((base.get("requirements") or {}).get("disabled_reason") or "")
    if status == "active":
        return {"status": status, "status_details": []}
    if reason.startswith("rejected."):
        status, code, resolution = (
            "rejected",
            "rejected_" + reason.split(".", 1)[1],
            "no_resolution",
        )
    elif reason in ("under_review", "requirements.pending_verification"):
        code, resolution = "requirements_pending_verification", "provide_info"
    elif reason == "requirements.past_due":
        code, resolution = "requirements_past_due", "provide_info"
    else:
        code, resolution = "restricted_other", "contact_stripe"
    return {"status": status, "status_details": [{"code": code, "resolution": resolution}]}


def _config(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name not in record["applied"]:
        return None
    base = record["base"]
    caps = base.get("capabilities") or {}
    extra = copy.deepcopy(record["configs"][name])
    payouts: dict[str, Any] = {"status": "active" if base.get("payouts_enabled") else "restricted",
               "status_details": []}  # fmt: skip
    if name == "merchant":
        profile = base["business_profile"]
        capabilities: dict[str, Any] = {"stripe_balance": {"payouts": payouts}}
        if "card_payments" in caps:
            capabilities["card_payments"] = _status(caps["card_payments"], base)
        support = extra.pop("support", {})
        return {
            **extra,
            "applied": True,
            "branding": dict(base["settings"]["branding"]),
            "capabilities": capabilities,
            "mcc": profile.get("mcc"),
            "statement_descriptor": extra.get("statement_descriptor"),
            "support": {
                "address": support.get("address"),
                "email": profile.get("support_email"),
                "phone": profile.get("support_phone"),
                "url": profile.get("support_url"),
            },
        }
    if name == "recipient":
        balance: dict[str, Any] = {"payouts": payouts}
        if "transfers" in caps:
            balance["stripe_transfers"] = _status(caps["transfers"], base)
        return {**extra, "applied": True, "capabilities": {"stripe_balance": balance}}
    return {
        "automatic_indirect_tax": None,
        "billing": None,
        "capabilities": None,
        "shipping": None,
        "test_clock": None,
        **extra,
        "applied": True,
    }


def _defaults(record: dict[str, Any]) -> dict[str, Any]:
    base = record["base"]
    controller = base.get("controller") or {}
    payer = (controller.get("fees") or {}).get("payer")
    losses = (controller.get("losses") or {}).get("payments")
    return {
        "currency": base.get("default_currency"),
        "locales": list(record["defaults"]["locales"]),
        "profile": {
            "business_url": base["business_profile"].get("url"),
            "doing_business_as": record["defaults"]["doing_business_as"],
            "product_description": base["business_profile"].get("product_description"),
        },
        "responsibilities": {
            "fees_collector": _FEES.get(payer, payer) if payer else None,
            "losses_collector": losses,
            "requirements_collector": controller.get("requirement_collection", "stripe"),
        },
    }


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    base = record["base"]
    extra = record["identity"]
    attestations = copy.deepcopy(extra.get("attestations") or {})
    accepted = (base.get("tos_acceptance") or {}).get("date")
    if accepted:
        # Hosted onboarding ends with the seller accepting Stripe's terms: v1 records it
        # in tos_acceptance, v2 as the account's terms-of-service attestation.
        attestations.setdefault("terms_of_service", {})["account"] = {
            "date": iso(accepted),
            "ip": (base.get("tos_acceptance") or {}).get("ip"),
            "user_agent": None,
        }
    return {
        "attestations": attestations or None,
        "business_details": extra.get("business_details"),
        "country": base.get("country"),
        "entity_type": base.get("business_type"),
        "individual": extra.get("individual"),
    }


def _requirements(
    record: dict[str, Any], v1: dict[str, Any] | None, *, future: bool = False
) -> dict[str, Any]:
    """v2 `entries` from v1's lists: the worst list an item is on sets its deadline."""
    v1 = v1 or {}
    statuses: dict[str, str] = {}
    for status, key in (("eventually_due", "eventually_due"), ("currently_due", "currently_due"),
                        ("past_due", "past_due")):  # fmt: skip
        for field in v1.get(key) or []:
            if _RANK[status] >= _RANK.get(statuses.get(field, ""), -1):
                statuses[field] = status
    pending = list(v1.get("pending_verification") or [])
    for field in pending:
        statuses.setdefault(field, "currently_due")
    gated = (("merchant", "card_payments"), ("recipient", "stripe_balance.stripe_transfers"))
    restricts = [(name, capability) for name, capability in gated if name in record["applied"]]
    entries = []
    for field, status in statuses.items():
        blocking = status != "eventually_due" or field in pending
        entries.append(
            {
                "awaiting_action_from": "stripe" if field in pending else "user",
                "description": field,
                "errors": [],
                "impact": {
                    "restricts_capabilities": [
                        {"capability": cap, "configuration": name, "deadline": {"status": status}}
                        for name, cap in restricts
                    ]
                    if blocking
                    else []
                },
                "minimum_deadline": {"status": status},
                "reference": None,
                "requested_reasons": [{"code": "routine_onboarding"}],
            }
        )
    summary = None
    if entries:
        worst = max(statuses.values(), key=lambda s: _RANK[s])
        deadline = v1.get("current_deadline")
        summary = {
            "minimum_deadline": {"status": worst, "time": iso(deadline) if deadline else None}
        }
    out: dict[str, Any] = {"alternatives": [], "entries": entries, "summary": summary}
    if future:
        out["minimum_transition_date"] = None
    return out
