"""`/v1/platform/portal-settings`, `/v1/accounts/{id}/portal-settings`, `/portal-sessions`.

A write whose Stripe sync fails commits what it saved (the new version, the
account marked `out_of_sync` with the error, the previous configuration still
current) and then answers with the mapped Stripe error (422 or 502): the
caller learns the sync failed, and `sync_portal_settings` or a later save can
finish it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from litestar import Controller, Response, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.guard import admin_only, ensure_account_access
from platform_service.auth.keys import Caller
from platform_service.deps import CallerDep, DbSession, RuntimeDep
from platform_service.errors import Forbidden
from platform_service.portal import service, sessions
from platform_service.portal.document import PortalSettingsPatch
from platform_service.portal.schemas import (
    AccountPortalSettingsOut,
    PlatformPortalSettingsOut,
    PortalSessionCreate,
    PortalSessionOut,
    PortalSettingsVersionList,
)
from platform_service.runtime import Runtime
from platform_service.stripe.errors import StripeGatewayError

AccountId = FromPath[
    Annotated[str, Parameter(description="The connected account's Stripe id (acct_…)")]
]
_T = TypeVar("_T")


async def _keep_failed_sync(db_session: AsyncSession, work: Awaitable[_T]) -> _T:
    try:
        return await work
    except StripeGatewayError:
        # The autocommit handler rolls back on errors; the failure state must stay.
        await db_session.commit()
        raise


def _ensure_can_edit(caller: Caller, account_id: str, runtime: Runtime) -> None:
    ensure_account_access(caller, account_id)
    if not caller.is_admin and not runtime.settings.sellers_edit_portal:
        raise Forbidden(
            "The platform does not let sellers edit their portal settings.",
            code="sellers_edit_portal_disabled",
        )


class PlatformPortalSettingsController(Controller):
    path = "/v1/platform/portal-settings"
    tags = ["Portal settings"]
    guards = [admin_only]

    @get(operation_id="RetrievePlatformPortalSettings")
    async def get_settings(self, db_session: DbSession) -> PlatformPortalSettingsOut:
        """The platform's defaults and the document an account without overrides gets."""
        return await service.get_platform_settings(db_session)

    @put(operation_id="ReplacePlatformPortalSettings")
    async def put_settings(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        data: JSONBody[PortalSettingsPatch],
    ) -> PlatformPortalSettingsOut:
        """Replace the platform's defaults; accounts are re-synced in the background."""
        return await service.put_platform_settings(db_session, runtime, data, actor=caller.actor)


class AccountPortalController(Controller):
    path = "/v1/accounts/{account_id:str}"
    tags = ["Portal settings"]

    @get("/portal-settings", operation_id="RetrieveAccountPortalSettings")
    async def get_settings(
        self, db_session: DbSession, caller: CallerDep, account_id: AccountId
    ) -> AccountPortalSettingsOut:
        """The effective document, the account's overrides and, per field, where it came from."""
        ensure_account_access(caller, account_id)
        return await service.get_account_settings(db_session, account_id)

    @put("/portal-settings", operation_id="ReplaceAccountPortalSettings")
    async def put_settings(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[PortalSettingsPatch],
    ) -> AccountPortalSettingsOut:
        """Replace the account's overrides (fields left out are inherited), then sync."""
        _ensure_can_edit(caller, account_id, runtime)
        return await _keep_failed_sync(
            db_session,
            service.put_account_settings(db_session, runtime, account_id, data, actor=caller.actor),
        )

    @patch("/portal-settings", operation_id="UpdateAccountPortalSettings")
    async def patch_settings(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[PortalSettingsPatch],
        reset: FromQuery[
            Annotated[
                list[str] | None,
                Parameter(description="Dotted paths to inherit again, e.g. customisation.headline"),
            ]
        ] = None,
    ) -> AccountPortalSettingsOut:
        """Change the fields given; `reset` paths go back to inheriting. Then sync."""
        _ensure_can_edit(caller, account_id, runtime)
        return await _keep_failed_sync(
            db_session,
            service.patch_account_settings(
                db_session, runtime, account_id, data, reset=reset or [], actor=caller.actor
            ),
        )

    @get("/portal-settings/versions", operation_id="ListAccountPortalSettingsVersions")
    async def list_versions(
        self, db_session: DbSession, caller: CallerDep, account_id: AccountId
    ) -> PortalSettingsVersionList:
        """Every saved version, newest first; `live` marks the one on Stripe."""
        ensure_account_access(caller, account_id)
        return await service.list_versions(db_session, account_id)

    @post(
        "/portal-settings/versions/{version:int}/restore",
        operation_id="RestoreAccountPortalSettingsVersion",
        status_code=HTTP_200_OK,
    )
    async def restore_version(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        version: FromPath[Annotated[int, Parameter(ge=1)]],
    ) -> AccountPortalSettingsOut:
        """Save an earlier version's overrides as the newest version, then sync."""
        _ensure_can_edit(caller, account_id, runtime)
        return await _keep_failed_sync(
            db_session,
            service.restore_version(db_session, runtime, account_id, version, actor=caller.actor),
        )

    @post("/portal-sessions", operation_id="CreatePortalSession", status_code=HTTP_201_CREATED)
    async def create_session(
        self,
        db_session: DbSession,
        runtime: RuntimeDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[PortalSessionCreate],
        redirect: FromQuery[
            Annotated[bool, Parameter(description="Answer 303 to the portal URL instead of JSON")]
        ] = False,
    ) -> Response[PortalSessionOut] | Redirect:
        """Open a portal session for a customer of the account; the URL is single-use."""
        ensure_account_access(caller, account_id)
        out = await sessions.create_portal_session(
            db_session,
            runtime,
            account_id,
            data,
            actor=caller.actor,
            nonce=secrets.token_hex(12),
        )
        if redirect:
            # The autocommit handler commits 2xx only; the audit record must stay.
            await db_session.commit()
            return Redirect(out.url, status_code=HTTP_303_SEE_OTHER)
        return Response(out, status_code=HTTP_201_CREATED)
