"""Words the console shows for the service's codes (states, kinds, charge models).

The API answers codes (`not_started`, `partially_failed`); people read these labels,
in their language. Labels are marked here and translated when a page is rendered.
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel import Locale
from babel.dates import format_datetime

from platform_service.accounts.schemas import Account
from platform_service.web.i18n import N_, current_language, gettext, ngettext

STATUS_LABELS = {
    # onboarding
    "not_started": N_("not started"),
    "in_progress": N_("in progress"),
    "action_required": N_("action required"),
    "under_review": N_("under review"),
    "restricted": N_("restricted"),
    "active": N_("active"),
    "rejected": N_("rejected"),
    "disconnected": N_("disconnected"),
    # bulk jobs
    "queued": N_("queued"),
    "running": N_("running"),
    "paused": N_("paused"),
    "succeeded": N_("succeeded"),
    "partially_failed": N_("partially failed"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "skipped": N_("skipped"),
    # webhook events
    "pending": N_("pending"),
    "processing": N_("processing"),
    "processed": N_("processed"),
    "ignored": N_("ignored"),
    "unhandled": N_("unhandled"),
    # portal configuration sync
    "in_sync": N_("in sync"),
    "out_of_sync": N_("out of sync"),
}

CHARGE_MODEL_LABELS = {
    "direct": N_("Direct charges"),
    "destination_on_behalf_of": N_("Destination charges on behalf of the seller"),
    "destination": N_("Destination charges"),
    "separate_charges_and_transfers": N_("Separate charges and transfers"),
}

ACCOUNT_KIND_LABELS = {
    "express": N_("Express (Stripe-hosted dashboard, platform-controlled)"),
    "custom": N_("Custom (no Stripe dashboard; the platform collects requirements)"),
    "standard": N_("Standard (the seller's own full Stripe dashboard)"),
}

ACCOUNTS_API_LABELS = {
    "v1": N_("Accounts v1 (/v1/accounts)"),
    "v2": N_("Accounts v2 (/v2/core/accounts)"),
}

BULK_KIND_LABELS = {
    "branding": N_("branding"),
    "portal_settings": N_("portal settings"),
}


def label(code: str | None, labels: dict[str, str] | None = None) -> str:
    """The translated label of a code; an unknown code is shown as it is."""
    if code is None:
        return ""
    found = (labels or STATUS_LABELS).get(code)
    return gettext(found) if found else code


def when(value: datetime | None) -> str:
    """A date and time in the page's language, in UTC (the service's clock)."""
    if value is None:
        return gettext("never")
    return f"{format_datetime(value, 'medium', tzinfo=UTC, locale=current_language())} UTC"


def country_name(code: str | None) -> str:
    if not code:
        return ""
    names = Locale.parse(current_language()).territories
    return str(names.get(code, code))


def onboarding_reason(account: Account) -> str:
    """Why the account is in its onboarding state, in the page's language.

    The service's own reason is English prose; this says the same from the state's facts.
    """
    state = account.onboarding
    status = state.status
    if status == "disconnected":
        return gettext("The account disconnected from the platform (or the platform lost access).")
    if status == "rejected":
        return gettext("Stripe rejected the account (%(reason)s).") % {
            "reason": state.disabled_reason or "—"
        }
    if status == "in_progress":
        return gettext("Onboarding has started but the seller has not submitted their details yet.")
    if status == "not_started":
        return gettext("The seller has not started Stripe onboarding.")
    if status == "under_review":
        return gettext("Stripe is verifying the information the seller submitted.")
    if status == "restricted":
        if state.disabled_reason:
            return gettext("Stripe restricted the account (%(reason)s).") % {
                "reason": state.disabled_reason
            }
        return gettext("Details are submitted but charges or payouts are disabled.")
    if status == "action_required":
        count = len(state.due_fields)
        return ngettext(
            "Stripe needs %(count)d more piece of information.",
            "Stripe needs %(count)d more pieces of information.",
            count,
        ) % {"count": count}
    if status == "active":
        return gettext("Charges and payouts are enabled.")
    return state.reason
