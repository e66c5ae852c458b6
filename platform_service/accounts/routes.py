"""`/v1/accounts`: create, list, read, update, onboarding links, sync, import."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from litestar import Controller, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from platform_service.accounts import onboarding, service
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import AccountImport
from platform_service.accounts.onboarding import OnboardingStatus
from platform_service.accounts.schemas import (
    Account,
    AccountCreate,
    AccountImportOut,
    AccountList,
    AccountUpdate,
    ImportCreate,
    OnboardingLink,
    OnboardingLinkCreate,
)
from platform_service.auth.guard import account_access, admin_only
from platform_service.db.lookup import get_or_404
from platform_service.deps import (
    AfterCommitDep,
    CallerDep,
    DbSession,
    GatewayDep,
    PublicUrlDep,
    SettingsDep,
)
from platform_service.openapi import (
    ADMIN,
    AUTHENTICATED,
    BODY,
    CONFLICT,
    LOOKUP,
    PARAMS,
    STRIPE,
    WRITE,
    documented,
)

AccountId = Annotated[str, Parameter(description="The connected account's Stripe id (acct_…)")]


def import_out(run: AccountImport) -> AccountImportOut:
    return AccountImportOut(
        id=run.id,
        status=run.status,
        charge_model=ChargeModel(run.charge_model),
        accounts_api="v2" if run.accounts_api == "v2" else "v1",
        seen=run.seen,
        created=run.created,
        updated=run.updated,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


class AccountController(Controller):
    path = "/v1/accounts"
    tags = ["Accounts"]

    @post(
        operation_id="CreateAccount",
        guards=[admin_only],
        summary="Create and onboard a seller",
        **documented(
            ADMIN,
            BODY,
            CONFLICT,
            STRIPE,
            WRITE,
            responses={
                200: ResponseSpec(
                    Account,
                    generate_examples=False,
                    description="An account with this `external_ref` already exists: it is "
                    "returned as it is, and nothing is created.",
                )
            },
        ),
    )
    async def create_account(
        self,
        data: JSONBody[AccountCreate],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
        caller: CallerDep,
        settings: SettingsDep,
    ) -> Response[Account]:
        """Idempotent on `external_ref`: 201 for a new account, 200 with the existing one."""
        row, created = await service.create_account(
            db_session,
            gateway,
            data,
            actor=caller.actor,
            default_api=settings.stripe_accounts_api,
        )
        if created:  # a portal configuration from the platform defaults, before any session
            after_commit.enqueue(db_session, "ensure_portal_configuration", row.id)
        return Response(
            service.account_out(row), status_code=HTTP_201_CREATED if created else HTTP_200_OK
        )

    @get(
        operation_id="ListAccounts",
        guards=[admin_only],
        summary="List accounts, newest first",
        description="Keyset pages: pass the last `id` of a page as `starting_after` for the "
        "next; filters combine. `q` matches part of the business name, email or external_ref, or a whole account id; `accounts_api=v1` lists the sellers a platform moving to Accounts v2 has left to move.",
        **documented(ADMIN, PARAMS),
    )
    async def list_accounts(
        self,
        db_session: DbSession,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        starting_after: FromQuery[str | None] = None,
        status: FromQuery[OnboardingStatus | None] = None,
        charge_model: FromQuery[ChargeModel | None] = None,
        country: Annotated[str | None, Parameter(min_length=2, max_length=2)] = None,
        q: Annotated[str | None, Parameter(min_length=1, max_length=200)] = None,
        accounts_api: Annotated[
            Literal["v1", "v2"] | None,
            Parameter(description="Only the accounts on this Stripe Accounts API."),
        ] = None,
    ) -> AccountList:
        page = await service.list_accounts(
            db_session,
            limit=limit,
            starting_after=starting_after,
            status=status.value if status else None,
            charge_model=charge_model.value if charge_model else None,
            country=country,
            q=q,
            accounts_api=accounts_api,
        )
        return AccountList(data=[service.account_out(r) for r in page.rows], has_more=page.has_more)

    @post(
        "/import",
        operation_id="ImportAccounts",
        guards=[admin_only],
        status_code=HTTP_202_ACCEPTED,
        summary="Import the platform's existing connected accounts",
        **documented(ADMIN, BODY, WRITE, optional_body=True),
    )
    async def import_accounts(
        self,
        db_session: DbSession,
        after_commit: AfterCommitDep,
        caller: CallerDep,
        settings: SettingsDep,
        data: JSONBody[ImportCreate | None] = None,
    ) -> AccountImportOut:
        """Start a job that pages through every connected account on Stripe and upserts it."""
        request = data or ImportCreate()
        run = await service.start_import(
            db_session,
            after_commit,
            charge_model=request.charge_model,
            actor=caller.actor,
            api=request.accounts_api or settings.stripe_accounts_api,
        )
        return import_out(run)

    @get(
        "/imports/{import_id:str}",
        operation_id="RetrieveAccountImport",
        guards=[admin_only],
        summary="An import's progress",
        description="How many accounts the import has seen, created and updated so far.",
        **documented(ADMIN, LOOKUP),
    )
    async def get_import(self, db_session: DbSession, import_id: FromPath[str]) -> AccountImportOut:
        run = await get_or_404(
            db_session, AccountImport, import_id, what="import", param="import_id"
        )
        return import_out(run)

    @get(
        "/{account_id:str}",
        operation_id="RetrieveAccount",
        guards=[account_access],
        summary="One account",
        description="The account as last synced from Stripe, with its onboarding state and "
        "what it needs next. Admins, or the account's own seller.",
        **documented(AUTHENTICATED, LOOKUP),
    )
    async def get_account(self, db_session: DbSession, account_id: AccountId) -> Account:
        return service.account_out(await service.get_account(db_session, account_id))

    @patch(
        "/{account_id:str}",
        operation_id="UpdateAccount",
        guards=[admin_only],
        summary="Change an account",
        description="Only the fields sent change; a new email, business name or charge "
        "model is written to Stripe first. `accounts_api` moves the account to the other "
        "Stripe Accounts API (a platform migrating to v2); 409 `account_not_on_v2_yet` while "
        "Stripe does not serve it there yet.",
        **documented(ADMIN, BODY, CONFLICT, LOOKUP, STRIPE, WRITE),
    )
    async def update_account(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[AccountUpdate],
    ) -> Account:
        row = await service.update_account(
            db_session, gateway, account_id, data, actor=caller.actor
        )
        return service.account_out(row)

    @post(
        "/{account_id:str}/sync",
        operation_id="SyncAccount",
        guards=[admin_only],
        status_code=HTTP_200_OK,
        summary="Refetch an account from Stripe",
        **documented(ADMIN, LOOKUP, STRIPE, WRITE),
    )
    async def sync_account(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        caller: CallerDep,
        account_id: AccountId,
    ) -> Account:
        """Refetch the account from Stripe now."""
        row = await service.sync_account(db_session, gateway, account_id, actor=caller.actor)
        return service.account_out(row)

    @post(
        "/{account_id:str}/onboarding-links",
        operation_id="CreateOnboardingLink",
        guards=[account_access],
        status_code=HTTP_201_CREATED,
        summary="A hosted onboarding link for the seller",
        **documented(AUTHENTICATED, BODY, LOOKUP, CONFLICT, STRIPE, WRITE),
    )
    async def create_onboarding_link(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        public_url: PublicUrlDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[OnboardingLinkCreate],
    ) -> OnboardingLink:
        """A single-use hosted onboarding link; never stored or logged by the service."""
        url, expires_at = await onboarding.create_onboarding_link(
            db_session,
            gateway,
            account_id,
            link_type=data.type,
            return_url=data.return_url,
            refresh_url=data.refresh_url,
            public_url=public_url,
            actor=caller.actor,
            nonce=secrets.token_hex(8),
        )
        return OnboardingLink(url=url, expires_at=expires_at)


class OnboardingRefreshController(Controller):
    """The refresh URL Stripe sends a seller's browser to when a link expired."""

    path = "/accounts"
    tags = ["Accounts"]
    include_in_schema = False

    @get("/{account_id:str}/onboarding/refresh", operation_id="RefreshOnboardingLink")
    async def refresh(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        public_url: PublicUrlDep,
        account_id: FromPath[str],
        token: FromQuery[str],
    ) -> Redirect:
        url = await onboarding.refresh_onboarding_link(
            db_session, gateway, account_id, token, public_url=public_url
        )
        return Redirect(url, status_code=303)
