"""Console pages of connected accounts: the list, a new seller, one account, onboarding."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect

from platform_service.accounts import service as accounts
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.onboarding import OnboardingStatus, create_onboarding_link
from platform_service.accounts.schemas import STRIPE_COUNTRIES, AccountCreate, AccountUpdate
from platform_service.branding.service import effective_branding_for
from platform_service.deps import AfterCommitDep, DbSession, GatewayDep, PublicUrlDep, SettingsDep
from platform_service.errors import ServiceError
from platform_service.portal.settings import get_account_settings
from platform_service.stripe.errors import StripeGatewayError
from platform_service.web import labels
from platform_service.web.common import account_caller, act, admin_caller
from platform_service.web.i18n import N_, gettext
from platform_service.web.render import page, signed_in
from platform_service.web.security import LoginRequired

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
NEW_SELLER_FIELDS = (
    "external_ref",
    "email",
    "country",
    "business_name",
    "charge_model",
    "account_kind",
    "accounts_api",
)
# What each field needs, said the way the form's person can act on it.
FIELD_HINTS = {
    "external_ref": N_("Your own id for this seller, at most 200 characters."),
    "email": N_("Enter an email address like name@example.com."),
    "country": N_("Choose a country where Stripe supports connected accounts."),
    "business_name": N_("The public business name, at most 200 characters."),
    "charge_model": N_("Choose one of the charge models."),
    "account_kind": N_("Choose one of the account kinds."),
    "accounts_api": N_("Choose Accounts v1 or v2."),
}
CODE_MESSAGES = {
    "external_ref_in_use": N_(
        "An account with this reference is being created with other details right now."
    ),
    "country_unsupported": N_("Stripe cannot create connected accounts in this country."),
}
_AT_PARAM = re.compile(r"`\$\.([A-Za-z_]+)")


def _param_of(error: msgspec.ValidationError) -> str | None:
    found = _AT_PARAM.search(str(error))
    return found.group(1) if found else None


def _console_return_url(public_url: str, account_id: str) -> str:
    return f"{public_url.rstrip('/')}/ui/accounts/{account_id}/onboarding-return"


class AccountPagesController(Controller):
    path = "/ui/accounts"
    include_in_schema = False

    @get("/")
    async def account_list(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        q: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> Response[str]:
        admin_caller(request)
        valid_status = status if status in {s.value for s in OnboardingStatus} else None
        found = await accounts.list_accounts(
            db_session,
            limit=50,
            q=(q or "").strip()[:200] or None,
            status=valid_status,
            starting_after=starting_after or None,
        )
        return page(
            request,
            "web/accounts.html",
            {
                "accounts": [accounts.account_out(r) for r in found.rows],
                "has_more": found.has_more,
                "q": q or "",
                "status": valid_status or "",
                "statuses": [s.value for s in OnboardingStatus],
            },
        )

    def _new_form(
        self,
        request: Request[Any, Any, Any],
        values: dict[str, str],
        errors: dict[str, str],
        *,
        status_code: int = 200,
    ) -> Response[str]:
        countries = sorted(STRIPE_COUNTRIES, key=labels.country_name)
        return page(
            request,
            "web/account_new.html",
            {
                "values": values,
                "errors": errors,
                "countries": countries,
                "charge_models": [m.value for m in ChargeModel],
                "account_kinds": list(labels.ACCOUNT_KIND_LABELS),
                "accounts_apis": list(labels.ACCOUNTS_API_LABELS),
            },
            status_code=status_code,
        )

    @get("/new")
    async def new_seller_form(
        self, request: Request[Any, Any, Any], settings: SettingsDep
    ) -> Response[str]:
        admin_caller(request)
        return self._new_form(
            request,
            {
                "charge_model": "direct",
                "account_kind": "express",
                "accounts_api": settings.stripe_accounts_api,
            },
            errors={},
        )

    @post("/new", status_code=200)
    async def create_seller(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
        public_url: PublicUrlDep,
        settings: SettingsDep,
        data: FormData,
    ) -> Response[str]:
        """Create the seller on Stripe and show its first onboarding link."""
        caller = admin_caller(request)
        values = {name: (data.get(name) or "").strip() for name in NEW_SELLER_FIELDS}
        # Left out (an older form, a script): the deployment's Accounts API.
        values["accounts_api"] = values["accounts_api"] or settings.stripe_accounts_api
        errors = {name: gettext("Required.") for name, value in values.items() if not value}
        if errors:
            return self._new_form(request, values, errors, status_code=422)
        try:
            wanted = msgspec.convert(values, AccountCreate)
        except msgspec.ValidationError as exc:
            param = _param_of(exc) or "external_ref"
            return self._new_form(
                request, values, {param: gettext(FIELD_HINTS.get(param, ""))}, status_code=422
            )
        try:
            row, created = await accounts.create_account(
                db_session,
                gateway,
                wanted,
                actor=caller.actor,
                default_api=settings.stripe_accounts_api,
            )
        except (ServiceError, StripeGatewayError) as exc:
            field = exc.param
            if field is None or field not in NEW_SELLER_FIELDS:
                raise
            message = CODE_MESSAGES.get(exc.code or "", FIELD_HINTS[field])
            return self._new_form(request, values, {field: gettext(message)}, status_code=422)
        if created:  # a portal configuration from the platform defaults, before any session
            after_commit.enqueue(db_session, "ensure_portal_configuration", row.id)
        url, expires_at = await create_onboarding_link(
            db_session,
            gateway,
            row.id,
            link_type="onboarding",
            return_url=_console_return_url(public_url, row.id),
            refresh_url=None,
            public_url=public_url,
            actor=caller.actor,
            nonce=secrets.token_hex(8),
        )
        return page(
            request,
            "web/account_created.html",
            {
                "account": accounts.account_out(row),
                "created": created,
                "link": url,
                "expires_at": expires_at,
            },
            secret=True,
        )

    @get("/{account_id:str}")
    async def account_page(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        account_id: FromPath[str],
        notice: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[str]:
        account_caller(request, account_id)
        row = await accounts.get_account(db_session, account_id)
        branding = await effective_branding_for(db_session, row)
        portal = await get_account_settings(db_session, account_id)
        return page(
            request,
            "web/account.html",
            {
                "account": accounts.account_out(row),
                "branding": branding,
                "portal": portal,
                "notice": notice if notice in ("refreshed", "moved") else None,
                "error": (error or "")[:80] or None,
            },
        )

    @post("/{account_id:str}/refresh", status_code=303)
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        account_id: FromPath[str],
    ) -> Redirect:
        """Refetch the account from Stripe now (the API's `POST /v1/accounts/{id}/sync`)."""
        caller = admin_caller(request)
        return await act(
            db_session,
            lambda: accounts.sync_account(db_session, gateway, account_id, actor=caller.actor),
            back=f"/ui/accounts/{account_id}",
            notice="refreshed",
        )

    @post("/{account_id:str}/accounts-api", status_code=303)
    async def move_accounts_api(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        account_id: FromPath[str],
        data: FormData,
    ) -> Redirect:
        """Move the account to the other Stripe Accounts API (`PATCH accounts_api`)."""
        caller = admin_caller(request)
        target: Literal["v1", "v2"] = "v2" if data.get("accounts_api") == "v2" else "v1"
        return await act(
            db_session,
            lambda: accounts.update_account(
                db_session,
                gateway,
                account_id,
                AccountUpdate(accounts_api=target),
                actor=caller.actor,
            ),
            back=f"/ui/accounts/{account_id}",
            notice="moved",
        )

    @post("/{account_id:str}/onboarding-link", status_code=303)
    async def onboarding_link(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        public_url: PublicUrlDep,
        account_id: FromPath[str],
    ) -> Redirect:
        """Mint a hosted onboarding link and send the browser there; it comes back here."""
        caller = account_caller(request, account_id)
        # The link's refresh token is written in this request: the 303 commits it.
        url, _ = await create_onboarding_link(
            db_session,
            gateway,
            account_id,
            link_type="onboarding",
            return_url=_console_return_url(public_url, account_id),
            refresh_url=None,
            public_url=public_url,
            actor=caller.actor,
            nonce=secrets.token_hex(8),
        )
        # The Location header is a bearer link: nothing may keep a copy of this answer.
        return Redirect(url, status_code=303, headers={"Cache-Control": "no-store"})

    @get("/{account_id:str}/onboarding-return")
    async def onboarding_return(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        account_id: FromPath[str],
        hop: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Where Stripe sends the seller back: read the account from Stripe, then show it.

        Stripe's redirect is a cross-site navigation, on which the browser withholds the
        SameSite=Strict session cookie: the first answer is a page that reloads this URL
        from the console's own origin, where the cookie is sent.
        """
        caller, _ = signed_in(request)
        if caller is None:
            if hop is None:
                return page(request, "web/returning.html", {"account_id": account_id})
            raise LoginRequired
        account_caller(request, account_id)
        return await act(
            db_session,
            lambda: accounts.sync_account(db_session, gateway, account_id, actor=caller.actor),
            back=f"/ui/accounts/{account_id}",
        )
