"""`/v1/platform/portal-settings`, `/v1/accounts/{id}/portal-settings`, `/portal-sessions`.

A save whose Stripe sync fails keeps what it saved (the new version, the
account marked `out_of_sync` with the error, the previous configuration still
current; see `portal.settings`) and answers with the mapped Stripe error (422
or 502): the caller learns the sync failed, and `sync_portal_settings` or a
later save can finish it.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from litestar import Controller, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_303_SEE_OTHER

from platform_service.auth.guard import account_access, admin_only, ensure_seller_may_edit
from platform_service.deps import (
    AfterCommitDep,
    CallerDep,
    DbSession,
    GatewayDep,
    SessionMakerDep,
    SettingsDep,
)
from platform_service.inputs import INTEGER_MAX, key_parameter
from platform_service.openapi import (
    ADMIN,
    AUTHENTICATED,
    BODY,
    CONFLICT,
    LOOKUP,
    PARAMS,
    SELLER_EDIT,
    STRIPE,
    WRITE,
    documented,
)
from platform_service.portal import defaults, versions
from platform_service.portal import settings as portal_settings
from platform_service.portal.document import PortalSettingsPatch
from platform_service.portal.schemas import (
    AccountPortalSettingsOut,
    PlatformPortalSettingsOut,
    PortalSessionCreate,
    PortalSessionOut,
    PortalSettingsVersionList,
)
from platform_service.portal.sessions import create_portal_session

AccountId = FromPath[
    Annotated[str, Parameter(description="The connected account's Stripe id (acct_…)")]
]


class PlatformPortalSettingsController(Controller):
    path = "/v1/platform/portal-settings"
    tags = ["Portal settings"]
    guards = [admin_only]

    @get(
        operation_id="RetrievePlatformPortalSettings",
        summary="The platform's default portal settings",
        **documented(ADMIN),
    )
    async def get_settings(self, db_session: DbSession) -> PlatformPortalSettingsOut:
        """The platform's defaults and the document an account without overrides gets."""
        return await defaults.get_platform_settings(db_session)

    @put(
        operation_id="ReplacePlatformPortalSettings",
        summary="Replace the platform's default portal settings",
        **documented(ADMIN, BODY, STRIPE, WRITE),
    )
    async def put_settings(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
        caller: CallerDep,
        data: JSONBody[PortalSettingsPatch],
    ) -> PlatformPortalSettingsOut:
        """Replace the platform's defaults; accounts are re-synced in the background."""
        return await defaults.put_platform_settings(
            db_session, gateway, after_commit, data, actor=caller.actor
        )


class AccountPortalController(Controller):
    path = "/v1/accounts/{account_id:str}"
    tags = ["Portal settings"]
    guards = [account_access]

    @get(
        "/portal-settings",
        operation_id="RetrieveAccountPortalSettings",
        summary="An account's portal settings",
        **documented(AUTHENTICATED, LOOKUP),
    )
    async def get_settings(
        self, db_session: DbSession, account_id: AccountId
    ) -> AccountPortalSettingsOut:
        """The effective document, the account's overrides and, per field, where it came from."""
        return await portal_settings.get_account_settings(db_session, account_id)

    @put(
        "/portal-settings",
        operation_id="ReplaceAccountPortalSettings",
        summary="Replace an account's portal overrides",
        **documented(SELLER_EDIT, BODY, LOOKUP, STRIPE, WRITE),
    )
    async def put_settings(
        self,
        session_maker: SessionMakerDep,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[PortalSettingsPatch],
    ) -> AccountPortalSettingsOut:
        """Replace the account's overrides (fields left out are inherited), then sync."""
        ensure_seller_may_edit(caller, settings, "portal_settings")
        return await portal_settings.put_account_settings(
            session_maker, gateway, account_id, data, actor=caller.actor
        )

    @patch(
        "/portal-settings",
        operation_id="UpdateAccountPortalSettings",
        summary="Change some of an account's portal settings",
        **documented(SELLER_EDIT, BODY, LOOKUP, STRIPE, WRITE),
    )
    async def patch_settings(
        self,
        session_maker: SessionMakerDep,
        gateway: GatewayDep,
        settings: SettingsDep,
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
        ensure_seller_may_edit(caller, settings, "portal_settings")
        return await portal_settings.patch_account_settings(
            session_maker, gateway, account_id, data, reset=reset or [], actor=caller.actor
        )

    @get(
        "/portal-settings/versions",
        operation_id="ListAccountPortalSettingsVersions",
        summary="An account's saved portal settings versions",
        **documented(AUTHENTICATED, LOOKUP, PARAMS),
    )
    async def list_versions(
        self,
        db_session: DbSession,
        account_id: AccountId,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=100)]] = 20,
        starting_after: FromQuery[
            Annotated[
                int | None,
                key_parameter(INTEGER_MAX, description="The last version of the previous page"),
            ]
        ] = None,
    ) -> PortalSettingsVersionList:
        """Saved versions, newest first; `live` marks the one on Stripe."""
        return await versions.list_versions(
            db_session, account_id, limit=limit, starting_after=starting_after
        )

    @post(
        "/portal-settings/versions/{version:int}/restore",
        operation_id="RestoreAccountPortalSettingsVersion",
        status_code=HTTP_200_OK,
        summary="Restore an earlier portal settings version",
        **documented(SELLER_EDIT, LOOKUP, PARAMS, STRIPE, WRITE),
    )
    async def restore_version(
        self,
        session_maker: SessionMakerDep,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        version: FromPath[Annotated[int, key_parameter(INTEGER_MAX)]],
    ) -> AccountPortalSettingsOut:
        """Save an earlier version's overrides as the newest version, then sync."""
        ensure_seller_may_edit(caller, settings, "portal_settings")
        return await portal_settings.restore_version(
            session_maker, gateway, account_id, version, actor=caller.actor
        )

    @post(
        "/portal-sessions",
        operation_id="CreatePortalSession",
        status_code=HTTP_201_CREATED,
        summary="Open a customer portal session",
        **documented(
            AUTHENTICATED,
            BODY,
            LOOKUP,
            CONFLICT,
            STRIPE,
            WRITE,
            responses={
                303: ResponseSpec(
                    None,
                    description="With `redirect=true`: the session's URL is in `Location`.",
                )
            },
        ),
    )
    async def create_session(
        self,
        db_session: DbSession,
        gateway: GatewayDep,
        settings: SettingsDep,
        caller: CallerDep,
        account_id: AccountId,
        data: JSONBody[PortalSessionCreate],
        redirect: FromQuery[
            Annotated[bool, Parameter(description="Answer 303 to the portal URL instead of JSON")]
        ] = False,
    ) -> Response[PortalSessionOut] | Redirect:
        """Open a portal session for a customer of the account; the URL is single-use."""
        out = await create_portal_session(
            db_session,
            gateway,
            account_id,
            data,
            allowed_hosts=settings.allowed_return_hosts,
            actor=caller.actor,
            nonce=secrets.token_hex(12),
            seller=not caller.is_admin,
        )
        if redirect:
            return Redirect(out.url, status_code=HTTP_303_SEE_OTHER)
        return Response(out, status_code=HTTP_201_CREATED)
