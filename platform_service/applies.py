"""Where each branding and portal setting takes effect (DESIGN.md, "truthfulness").

An operator must never read a setting as live when no Stripe call carries it.
Every field the service stores has one entry here:

- `stripe_api`: the service writes it to Stripe; `stripe_field` names where.
- `sessions_opened_here`: added to the portal sessions this service opens
  (not to the portal's home page, nor to sessions opened elsewhere).
- `stripe_dashboard`: only Stripe's Dashboard sets it; the service keeps the
  wish and lists it on the account's checklist, never as applied.
- `preview_only`: a visual aid of the preview.

Tests check that every leaf of the portal document and every branding field
has an entry, and that each `stripe_api` entry names a parameter the service
really sends.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts.models import ConnectedAccount
from platform_service.branding.rules import BrandingValues, ResolvedBranding, font_label
from platform_service.portal.models import AccountPortalSettings
from platform_service.schemas import Output

Applies = Literal["stripe_api", "sessions_opened_here", "stripe_dashboard", "preview_only"]


class Effect(Output, kw_only=True):
    """Where one setting takes effect."""

    applies: Annotated[
        Applies,
        msgspec.Meta(
            description="`stripe_api` (written to Stripe at `stripe_field`), "
            "`sessions_opened_here` (added to portal sessions this service opens), "
            "`stripe_dashboard` (only Stripe's Dashboard sets it: see the account's "
            "checklist) or `preview_only`."
        ),
    ]
    stripe_field: Annotated[
        str | None,
        msgspec.Meta(
            description="The Stripe object and parameter that carries it.",
            examples=["Account settings.branding.primary_color"],
        ),
    ] = None
    note: str | None = None


def _api(field: str, note: str | None = None) -> Effect:
    return Effect(applies="stripe_api", stripe_field=field, note=note)


_CONFIG: Final = "billing_portal.Configuration "
_UPDATE: Final = _CONFIG + "features.subscription_update."
_CANCEL: Final = _CONFIG + "features.subscription_cancel."
_DASHBOARD_ONLY: Final = (
    "The portal takes it only from Stripe's Dashboard (Settings > Branding); the "
    "service keeps it for the checklist and for Checkout."
)

BRANDING: Final[dict[str, Effect]] = {
    "display_name": _api("Account business_profile.name"),
    "logo": _api(
        "Account settings.branding.logo", "Checkout shows the logo; the portal shows the icon."
    ),
    "icon": _api("Account settings.branding.icon"),
    "button_color": _api("Account settings.branding.primary_color"),
    "background_color": _api("Account settings.branding.secondary_color"),
    "font_family": Effect(applies="stripe_dashboard", note=_DASHBOARD_ONLY),
    "border_style": Effect(applies="stripe_dashboard", note=_DASHBOARD_ONLY),
}

PORTAL: Final[dict[str, Effect]] = {
    "subscription_management.switch_plans": _api(_UPDATE + "default_allowed_updates[price]"),
    "subscription_management.products": _api(_UPDATE + "products"),
    "subscription_management.update_quantities": _api(
        _UPDATE + "default_allowed_updates[quantity]"
    ),
    "subscription_management.prorate_changes": _api(_UPDATE + "proration_behavior"),
    "subscription_management.downgrades": _api(_UPDATE + "schedule_at_period_end"),
    "subscription_management.schedule_conditions": _api(
        _UPDATE + "schedule_at_period_end.conditions"
    ),
    "subscription_management.promotion_codes_on_update": _api(
        _UPDATE + "default_allowed_updates[promotion_code]"
    ),
    "subscription_management.trial_update_behavior": _api(_UPDATE + "trial_update_behavior"),
    "subscription_management.billing_cycle_anchor": _api(_UPDATE + "billing_cycle_anchor"),
    "subscription_management.pause_subscriptions": _api(
        _CONFIG + "features.subscription_pause.enabled"
    ),
    "cancellations.cancel_subscriptions": _api(_CANCEL + "enabled"),
    "cancellations.cancel_mode": _api(_CANCEL + "mode"),
    "cancellations.cancel_proration": _api(_CANCEL + "proration_behavior"),
    "cancellations.cancellation_reason": _api(_CANCEL + "cancellation_reason.enabled"),
    "cancellations.cancellation_reason_options": _api(_CANCEL + "cancellation_reason.options"),
    "cancellations.cancellation_feedback_options": _api(
        _CANCEL + "cancellation_reason.feedback_options"
    ),
    "cancellations.retention_coupon": Effect(
        applies="sessions_opened_here",
        stripe_field="billing_portal.Session flow_data.subscription_cancel.retention",
        note="Stripe's configuration has no retention coupon: it rides on the cancel flows "
        "this service opens. A customer who cancels from the portal's home page, or in a "
        "session opened elsewhere, is not offered it.",
    ),
    "cancellations.retention_coupon_id": Effect(
        applies="sessions_opened_here",
        stripe_field="billing_portal.Session "
        "flow_data.subscription_cancel.retention.coupon_offer.coupon",
    ),
    "customer_billing.billing_information": _api(_CONFIG + "features.customer_update.enabled"),
    **{
        f"customer_billing.allowed_fields.{name}": _api(
            _CONFIG + f"features.customer_update.allowed_updates[{name}]"
        )
        for name in ("name", "email", "address", "phone", "shipping", "tax_id")
    },
    "customer_billing.payment_methods": _api(_CONFIG + "features.payment_method_update.enabled"),
    "customer_billing.payment_method_configuration": _api(
        _CONFIG + "features.payment_method_update.payment_method_configuration"
    ),
    "customisation.headline": _api(_CONFIG + "business_profile.headline"),
    "customisation.terms_of_service_url": _api(_CONFIG + "business_profile.terms_of_service_url"),
    "customisation.privacy_policy_url": _api(_CONFIG + "business_profile.privacy_policy_url"),
    "customisation.default_return_url": _api(_CONFIG + "default_return_url"),
    "customisation.custom_domain": Effect(
        applies="stripe_dashboard",
        note="Set up in Stripe's Dashboard (Settings > Custom domains), one per Stripe "
        "account; the service records it and keeps it unique across accounts.",
    ),
    "customisation.business_name": _api(
        "Account business_profile.name",
        "The portal shows the business name of the account whose branding it shows; "
        "set it as the branding's display_name.",
    ),
    "customisation.configuration_name": _api(
        _CONFIG + "name", "A label for people reading the configuration; customers never see it."
    ),
    "customisation.login_page": _api(
        _CONFIG + "login_page.enabled",
        "Stripe then returns a shareable login link (login_page.url), shown in the sync state. "
        "Accounts with identical settings share one configuration, so one link; on the "
        "platform (destination and separate charges) a session opened from it carries no "
        "on_behalf_of: it shows the platform's branding and all of the customer's "
        "subscriptions.",
    ),
    "invoice_history.invoice_history": _api(_CONFIG + "features.invoice_history.enabled"),
}


def branding_effects(resolved: ResolvedBranding) -> dict[str, Effect]:
    """`BRANDING` for one account: where its portal shows the platform's branding, the
    account's own values are still written to Stripe, and the note says they don't show."""
    if resolved.source == "connected_account":
        return dict(BRANDING)
    unseen = (
        "Written to the account on Stripe (Checkout and other surfaces use it), but this "
        "account's portal shows the platform's branding."
    )
    return {
        name: msgspec.structs.replace(effect, note=unseen)
        if effect.applies == "stripe_api"
        else effect
        for name, effect in BRANDING.items()
    }


class ChecklistItem(Output, kw_only=True):
    """One thing to set by hand in a Stripe Dashboard for this account's portal to match."""

    setting: Annotated[str, msgspec.Meta(examples=["font_family"])]
    value: str | None = None
    dashboard: Annotated[
        str | None,
        msgspec.Meta(
            description="Whose Stripe Dashboard: `platform`, the connected account's id, or "
            "null when no Dashboard can apply it to this account's portal."
        ),
    ]
    where: Annotated[str, msgspec.Meta(examples=["Settings > Branding > Font"])]
    note: str | None = None


def dashboard_checklist(
    account: ConnectedAccount,
    resolved: ResolvedBranding,
    own: BrandingValues,
    custom_domain: str | None,
) -> list[ChecklistItem]:
    """What to set in a Stripe Dashboard, since no API call of the service can.

    `own` is the branding the service holds for the account (with inherited
    defaults), whose font and shapes are the operator's wish for its portal.
    """
    connected = resolved.source == "connected_account"
    home = account.id if connected else "platform"
    # Express and Custom accounts have no full Dashboard of their own.
    has_dashboard = not connected or account.account_kind == "standard"
    dashboard = home if has_dashboard else None
    lacking = (
        None
        if has_dashboard
        else f"{_article(account.account_kind)} {account.account_kind.capitalize()} account has "
        "no Stripe Dashboard to set this in, so its portal keeps Stripe's default."
    )
    items: list[ChecklistItem] = []
    if own.font_family is not None:
        items.append(
            ChecklistItem(
                setting="font_family",
                value=font_label(own.font_family),
                dashboard=dashboard,
                where="Settings > Branding > Font",
                note=lacking,
            )
        )
    if own.border_style is not None:
        items.append(
            ChecklistItem(
                setting="border_style",
                value=own.border_style,
                dashboard=dashboard,
                where="Settings > Branding > Shapes",
                note=lacking,
            )
        )
    if custom_domain is not None:
        direct = resolved.call.stripe_account is not None
        items.append(
            ChecklistItem(
                setting="customisation.custom_domain",
                value=custom_domain,
                dashboard=account.id if direct and has_dashboard else None,
                where="Settings > Custom domains",
                note=None
                if direct and has_dashboard
                else (
                    lacking
                    if direct
                    else "Sessions for this account are made on the platform, where only the "
                    "platform's own domain can apply: this domain never shows in its portal."
                ),
            )
        )
    items.append(
        ChecklistItem(
            setting="emails",
            dashboard=home if has_dashboard else None,
            where="Settings > Customer emails",
            note="Receipts, invoices and portal-link emails are set in the Dashboard only; "
            "no API sets them.",
        )
    )
    return items


def _article(word: str) -> str:
    return "An" if word[:1].lower() in "aeiou" else "A"


async def checklist_for(
    session: AsyncSession,
    account: ConnectedAccount,
    resolved: ResolvedBranding,
    defaults: BrandingValues,
) -> list[ChecklistItem]:
    """`dashboard_checklist` for a stored account: the font and shapes wished for the
    portal it shows (its own branding, or the platform defaults for a platform-source
    portal) and the custom domain of its portal settings."""
    wish = resolved.branding if resolved.source == "connected_account" else defaults
    portal_row = await session.get(AccountPortalSettings, account.id)
    domain = portal_row.custom_domain if portal_row is not None else None
    return dashboard_checklist(account, resolved, wish, domain)
