"""Open a customer portal session from the console: pick one of the seller's customers.

The customers are read from Stripe where the charge model puts them, the same way
`portal.sessions` decides where the session is made (`resolve_branding`'s call
shape): on the connected account for direct charges; otherwise on the platform, where
a customer belongs to a seller when its metadata names the seller's account
(`platform_account_id`, the key the service also tags portal configurations with).
The session is opened through the API's own service and the browser is sent to its
URL at once: the URL, a bearer credential, is neither stored nor logged.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Final

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from platform_service.accounts import service as accounts
from platform_service.branding.service import effective_branding_for
from platform_service.deps import DbSession, GatewayDep, SettingsDep
from platform_service.errors import ServiceError
from platform_service.portal.schemas import PortalSessionCreate
from platform_service.portal.sessions import check_sellers_customer, create_portal_session
from platform_service.portal.sync import ACCOUNT_KEY
from platform_service.stripe.errors import StripeGatewayError
from platform_service.stripe.gateway import JSON, StripeGateway
from platform_service.web.common import account_caller
from platform_service.web.render import page

# A platform customer is this seller's when its metadata says so.
SELLER_KEY: Final = ACCOUNT_KEY
PICKER_SIZE: Final = 50
# Platform pages read per picker page while looking for the seller's customers.
PLATFORM_PAGES: Final = 10
# A Customer (cus_…), or a customer Account of Accounts v2 (acct_…).
CUSTOMER_ID: Final = re.compile(r"(cus|acct)_[A-Za-z0-9]+")
EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")


def belongs_to(customer: JSON, account_id: str, home: str | None) -> bool:
    """A customer read on `home` is the seller's (a direct account's own are all theirs)."""
    if customer.get("deleted"):
        return False
    if home is not None:
        return True
    return (customer.get("metadata") or {}).get(SELLER_KEY) == account_id


async def sellers_customers(
    gateway: StripeGateway,
    account_id: str,
    home: str | None,
    *,
    starting_after: str | None,
    email: str | None,
) -> tuple[list[JSON], str | None]:
    """Up to `PICKER_SIZE` of the seller's customers, and the cursor of the next page."""
    found: list[JSON] = []
    cursor = starting_after
    for _ in range(1 if home is not None else PLATFORM_PAGES):
        batch, more = await gateway.list_customers(
            stripe_account=home,
            limit=PICKER_SIZE if home is not None else 100,
            starting_after=cursor,
            email=email,
        )
        found.extend(c for c in batch if belongs_to(c, account_id, home))
        cursor = str(batch[-1]["id"]) if batch else None
        if not more or cursor is None:
            return found, None
        if len(found) >= PICKER_SIZE:
            break
    return found, cursor


async def sellers_customer_accounts(
    gateway: StripeGateway, account_id: str, home: str | None, *, email: str | None
) -> list[JSON]:
    """Up to `PICKER_SIZE` of the seller's customer Accounts (Accounts v2), shaped like
    Customers for the picker: in the seller's context for direct charges, else the
    platform's tagged with the seller's id (the rule `check_sellers_customer` applies)."""
    found: list[JSON] = []
    scanned = 0
    listed = gateway.iter_accounts_v2({"applied_configurations": ["customer"]}, stripe_context=home)
    async for customer in listed:
        scanned += 1
        mine = home is not None or (customer.get("metadata") or {}).get(SELLER_KEY) == account_id
        wanted = email is None or str(customer.get("contact_email") or "").lower() == email.lower()
        if mine and wanted and not customer.get("closed"):
            found.append(
                {
                    "id": customer["id"],
                    "name": customer.get("display_name"),
                    "email": customer.get("contact_email"),
                }
            )
        if len(found) >= PICKER_SIZE or scanned >= PLATFORM_PAGES * 100:
            break
    return found


class PortalSessionPagesController(Controller):
    path = "/ui/accounts/{account_id:str}/portal-session"
    include_in_schema = False

    @get("/")
    async def picker(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        account_id: FromPath[str],
        email: FromQuery[str | None] = None,
        starting_after: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[str]:
        account_caller(request, account_id)
        row = await accounts.get_account(db_session, account_id)
        resolved = await effective_branding_for(db_session, row)
        home = resolved.call.stripe_account
        wanted = (email or "").strip()[:320]
        cursor = (
            starting_after if starting_after and CUSTOMER_ID.fullmatch(starting_after) else None
        )
        customers: list[JSON] = []
        next_cursor: str | None = None
        stripe_error: str | None = None
        if not wanted or EMAIL.fullmatch(wanted):
            try:
                customers, next_cursor = await sellers_customers(
                    gateway, account_id, home, starting_after=cursor, email=wanted or None
                )
                if accounts.api_of(row) == "v2" and cursor is None:
                    # A platform on Accounts v2 has customer Accounts too (first page only:
                    # v2 lists page by opaque tokens, the email narrows the rest).
                    customers += await sellers_customer_accounts(
                        gateway, account_id, home, email=wanted or None
                    )
            except StripeGatewayError as exc:
                stripe_error = exc.code or exc.kind.value
        return page(
            request,
            "web/portal_session.html",
            {
                "account": accounts.account_out(row),
                "on_platform": home is None,
                "customers": customers,
                "next_cursor": next_cursor,
                "paged": cursor is not None,
                "email": wanted,
                "email_invalid": bool(wanted) and not EMAIL.fullmatch(wanted),
                "error": (error or stripe_error or "")[:80] or None,
            },
        )

    @post("/", status_code=303)
    async def open_session(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        account_id: FromPath[str],
    ) -> Redirect:
        """Open the session as `POST /v1/accounts/{id}/portal-sessions` does; go to its URL."""
        caller = account_caller(request, account_id)
        back = f"/ui/accounts/{account_id}/portal-session"
        customer = str((await request.form()).get("customer") or "").strip()
        if not CUSTOMER_ID.fullmatch(customer):
            return Redirect(f"{back}?error=customer_missing", status_code=303)
        row = await accounts.get_account(db_session, account_id)
        home = (await effective_branding_for(db_session, row)).call.stripe_account
        v2_customer = customer.startswith("acct_")
        who = (
            PortalSessionCreate(customer_account=customer)
            if v2_customer
            else PortalSessionCreate(customer=customer)
        )
        try:
            # Only the seller's own customer, by the API's rule (`check_sellers_customer`),
            # whoever is signed in: the page is the seller's.
            if home is None:
                await check_sellers_customer(
                    gateway, account_id, who.customer, who.customer_account
                )
            elif not await _customer_on(gateway, customer, home):
                return Redirect(f"{back}?error=customer_not_found", status_code=303)
            async with db_session.begin_nested():
                opened = await create_portal_session(
                    db_session,
                    gateway,
                    account_id,
                    who,
                    allowed_hosts=settings.allowed_return_hosts,
                    actor=caller.actor,
                    nonce=secrets.token_hex(12),
                    seller=not caller.is_admin,
                )
        except (ServiceError, StripeGatewayError) as exc:
            code = exc.code or "stripe_error"
            if code == "resource_missing":
                code = "customer_not_found"
            return Redirect(f"{back}?error={code}", status_code=303)
        # The Location header is a bearer link: nothing may keep a copy of this answer.
        return Redirect(opened.url, status_code=303, headers={"Cache-Control": "no-store"})


async def _customer_on(gateway: StripeGateway, customer: str, home: str) -> bool:
    """Whether `customer` (a Customer or a customer Account) is a live customer of `home`."""
    if customer.startswith("acct_"):
        found = await gateway.retrieve_account_v2(
            customer, include=("configuration.customer",), stripe_context=home
        )
        return bool((found.get("configuration") or {}).get("customer")) and not found.get("closed")
    return not (await gateway.retrieve_customer(customer, stripe_account=home)).get("deleted")
