"""Connected accounts: create, read, update, list, sync from Stripe, import."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import stripe_api
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import AccountImport, ConnectedAccount
from platform_service.accounts.onboarding import derive_state
from platform_service.accounts.schemas import (
    STRIPE_COUNTRIES,
    Account,
    AccountCreate,
    AccountKind,
    AccountUpdate,
    Onboarding,
)
from platform_service.auth import audit
from platform_service.db.base import utcnow
from platform_service.db.lookup import get_or_404
from platform_service.errors import Conflict, ValidationFailed
from platform_service.jobs.outbox import AfterCommit
from platform_service.pagination import Page, keyset_page
from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import AccountCreateParams, StripeGateway
from platform_service.stripe.idempotency import idempotency_key

EXTERNAL_REF_KEY = "platform_external_ref"
CHARGE_MODEL_KEY = "platform_charge_model"
# `q` that is a whole email address (one @, a dot in the domain, no spaces).
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# Controller properties per account kind (Stripe's replacement for `type`).
CONTROLLERS: dict[str, dict[str, Any]] = {
    "express": {
        "stripe_dashboard": {"type": "express"},
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
    },
    "custom": {
        "stripe_dashboard": {"type": "none"},
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "requirement_collection": "application",
    },
    "standard": {
        "stripe_dashboard": {"type": "full"},
        "fees": {"payer": "account"},
        "losses": {"payments": "stripe"},
        "requirement_collection": "stripe",
    },
}

# Only what the service reads from Stripe's Account object is kept.
_SNAPSHOT_FIELDS = (
    "id",
    "type",
    "email",
    "country",
    "business_profile",
    "controller",
    "capabilities",
    "charges_enabled",
    "payouts_enabled",
    "details_submitted",
    "requirements",
    "future_requirements",
    "metadata",
)


def account_out(row: ConnectedAccount) -> Account:
    kind: AccountKind = row.account_kind if row.account_kind in CONTROLLERS else "express"  # type: ignore[assignment]
    return Account(
        id=row.id,
        external_ref=row.external_ref,
        email=row.email,
        country=row.country,
        business_name=row.business_name,
        charge_model=ChargeModel(row.charge_model),
        account_kind=kind,
        accounts_api=api_of(row),
        metadata=dict(row.metadata_ or {}),
        onboarding=Onboarding(
            status=row.status,  # type: ignore[arg-type]
            reason=row.status_reason,
            next_action=row.next_action,  # type: ignore[arg-type]
            due_fields=list(row.due_fields or []),
            deadline=row.due_deadline,
            disabled_reason=row.disabled_reason,
        ),
        charges_enabled=row.charges_enabled,
        payouts_enabled=row.payouts_enabled,
        details_submitted=row.details_submitted,
        created_at=row.created_at,
        updated_at=row.updated_at,
        synced_at=row.synced_at,
        disconnected_at=row.disconnected_at,
    )


def api_of(row: ConnectedAccount) -> stripe_api.AccountsApi:
    """The Stripe Accounts API the account is read and written through."""
    return "v2" if row.accounts_api == "v2" else "v1"


def _audit_view(row: ConnectedAccount) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(account_out(row))
    for volatile in ("updated_at", "synced_at", "created_at"):
        view.pop(volatile, None)
    return view


async def _record_change(
    session: AsyncSession, row: ConnectedAccount, before: dict[str, Any], *, action: str, actor: str
) -> None:
    """Audit the change to `row` since `before`, if there is one."""
    after = _audit_view(row)
    if after != before:
        await audit.record(
            session, actor=actor, action=action, account_id=row.id, before=before, after=after
        )


def _search_text(*parts: str | None) -> str:
    return " ".join(p.lower() for p in parts if p)


def apply_stripe_account(
    row: ConnectedAccount, data: dict[str, Any], *, disconnected: bool = False
) -> None:
    """Copy what Stripe says about the account onto the row and re-derive its state."""
    disconnected = disconnected or bool(data.get("closed"))
    profile = data.get("business_profile") or {}
    row.email = data.get("email") or row.email
    row.country = data.get("country") or row.country
    row.business_name = profile.get("name") or row.business_name
    row.charges_enabled = bool(data.get("charges_enabled"))
    row.payouts_enabled = bool(data.get("payouts_enabled"))
    row.details_submitted = bool(data.get("details_submitted"))
    row.stripe_snapshot = {k: data.get(k) for k in _SNAPSHOT_FIELDS if k in data}
    branding = ((data.get("settings") or {}).get("branding")) or None
    if branding is not None:
        row.stripe_snapshot["settings"] = {"branding": branding}
    if disconnected:
        row.disconnected_at = row.disconnected_at or utcnow()
    else:
        row.disconnected_at = None
    _set_state(row)
    row.search_text = _search_text(row.business_name, row.email, row.external_ref)
    row.synced_at = utcnow()


def _set_state(row: ConnectedAccount) -> None:
    state = derive_state(
        row.stripe_snapshot,
        disconnected=row.disconnected_at is not None,
        onboarding_started=row.onboarding_started,
    )
    row.status = state.status.value
    row.status_reason = state.reason
    row.next_action = state.next_action.value
    row.due_fields = list(state.due_fields)
    row.due_deadline = state.deadline
    row.disabled_reason = state.disabled_reason


def _kind_of(data: dict[str, Any]) -> str:
    dashboard = ((data.get("controller") or {}).get("stripe_dashboard") or {}).get("type")
    return {"express": "express", "none": "custom", "full": "standard"}.get(
        str(dashboard),
        {"custom": "custom", "standard": "standard"}.get(str(data.get("type")), "express"),
    )


async def get_account(session: AsyncSession, account_id: str) -> ConnectedAccount:
    """The account, or 404."""
    return await get_or_404(
        session, ConnectedAccount, account_id, by=ConnectedAccount.id, what="account"
    )


async def lock_account_for_write(session: AsyncSession, account_id: str) -> ConnectedAccount:
    """The account, or 404, locked until the transaction ends: writes to one account
    run one after the other, each reading what the previous one committed.

    Every write to an account's data (its row, branding, portal settings) calls
    this first, before reading what it changes (`db.locks`).
    """
    return await get_or_404(
        session,
        ConnectedAccount,
        account_id,
        by=ConnectedAccount.id,
        what="account",
        for_update=True,
    )


async def create_account(
    session: AsyncSession,
    gateway: StripeGateway,
    data: AccountCreate,
    *,
    actor: str,
    default_api: stripe_api.AccountsApi = "v1",
) -> tuple[ConnectedAccount, bool]:
    """Create the Stripe account and its row; the same `external_ref` returns the existing one.

    It is created on `data.accounts_api`, else on the deployment's `default_api`.
    """
    if data.country not in STRIPE_COUNTRIES:
        raise ValidationFailed(
            f"Stripe cannot create connected accounts in '{data.country}'.",
            code="country_unsupported",
            param="country",
        )
    existing = await session.scalar(
        select(ConnectedAccount).where(ConnectedAccount.external_ref == data.external_ref)
    )
    if existing is not None:
        return existing, False
    params: AccountCreateParams = {
        "country": data.country,
        "email": data.email,
        "business_profile": {"name": data.business_name},
        "controller": CONTROLLERS[data.account_kind],  # type: ignore[typeddict-item]
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
        "metadata": {
            **data.metadata,
            EXTERNAL_REF_KEY: data.external_ref,
            CHARGE_MODEL_KEY: data.charge_model.value,
        },
    }
    api = data.accounts_api or default_api
    # The key is derived from external_ref: a retry, a double submit or two
    # concurrent requests all get the same Stripe account back.
    try:
        stripe_account = await stripe_api.create(
            gateway,
            api,
            params,
            # v1 keeps the key it always had; v2's differs (another endpoint, other params).
            idempotency_key=idempotency_key(
                "accounts.create" if api == "v1" else "accounts.create.v2", data.external_ref
            ),
        )
    except StripeGatewayError as exc:
        if exc.kind is StripeErrorKind.IDEMPOTENCY_CONFLICT:
            raise Conflict(
                f"An account for external_ref '{data.external_ref}' is being created with other details.",
                code="external_ref_in_use",
                param="external_ref",
            ) from exc
        raise
    row = ConnectedAccount(
        id=stripe_account["id"],
        external_ref=data.external_ref,
        charge_model=data.charge_model.value,
        account_kind=data.account_kind,
        accounts_api=api,
        metadata_=dict(data.metadata),
    )
    apply_stripe_account(row, stripe_account)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent request with the same external_ref inserted it first.
        existing = await session.scalar(
            select(ConnectedAccount).where(ConnectedAccount.external_ref == data.external_ref)
        )
        if existing is None:
            raise
        return existing, False
    await audit.record(
        session, actor=actor, action="account.created", account_id=row.id, after=_audit_view(row)
    )
    return row, True


async def update_account(
    session: AsyncSession,
    gateway: StripeGateway,
    account_id: str,
    patch: AccountUpdate,
    *,
    actor: str,
) -> ConnectedAccount:
    """Apply a PATCH; the email and business name are written to Stripe first."""
    row = await lock_account_for_write(session, account_id)
    before = _audit_view(row)
    stripe_params: dict[str, Any] = {}
    if patch.email is not msgspec.UNSET and patch.email != row.email:
        stripe_params["email"] = patch.email
    if patch.business_name is not msgspec.UNSET and patch.business_name != row.business_name:
        stripe_params["business_profile"] = {"name": patch.business_name}
    if patch.charge_model is not msgspec.UNSET and patch.charge_model.value != row.charge_model:
        stripe_params["metadata"] = {CHARGE_MODEL_KEY: patch.charge_model.value}
    if patch.accounts_api is not msgspec.UNSET and patch.accounts_api != api_of(row):
        # Read through the target API first: the account moves only once Stripe
        # serves it there, and the row takes what that API says.
        apply_stripe_account(
            row, await _read_on(gateway, patch.accounts_api, account_id), disconnected=False
        )
        row.accounts_api = patch.accounts_api
    if stripe_params:
        # The key covers the API, what the write replaces and what it writes: a retry
        # of this change reuses it, while a later change back to an earlier value (or
        # the same change on the other API) is a new request, not a stored replay.
        api = api_of(row)
        replaced = {"email": row.email, "name": row.business_name, "model": row.charge_model}
        digest = hashlib.sha256(
            msgspec.json.encode([api, replaced, stripe_params], order="sorted")
        ).hexdigest()[:16]
        updated = await stripe_api.update(
            gateway,
            api,
            account_id,
            stripe_params,  # type: ignore[arg-type]
            idempotency_key=idempotency_key("accounts.update", account_id, digest),
        )
        apply_stripe_account(row, updated, disconnected=False)
    if patch.charge_model is not msgspec.UNSET:
        row.charge_model = patch.charge_model.value
    if patch.metadata is not msgspec.UNSET:
        row.metadata_ = dict(patch.metadata)
    row.search_text = _search_text(row.business_name, row.email, row.external_ref)
    row.updated_at = utcnow()
    await _record_change(session, row, before, action="account.updated", actor=actor)
    return row


async def _read_on(
    gateway: StripeGateway, api: stripe_api.AccountsApi, account_id: str
) -> dict[str, Any]:
    try:
        return await stripe_api.retrieve(gateway, api, account_id)
    except StripeGatewayError as exc:
        if api == "v2" and exc.kind is StripeErrorKind.RESOURCE_MISSING:
            # Stripe makes a v1 account available on /v2/core/accounts some minutes
            # after it asks (its `v2.core.account.created` event tells when).
            raise Conflict(
                "Stripe does not serve this account on Accounts v2 yet; retry in a few "
                "minutes (Stripe sends v2.core.account.created when it does).",
                code="account_not_on_v2_yet",
                param="accounts_api",
                headers={"Retry-After": "60"},
            ) from exc
        raise


async def mark_onboarding_started(
    session: AsyncSession, row: ConnectedAccount, *, actor: str
) -> None:
    """Note, once, that the seller was sent to Stripe's onboarding (its state moves on)."""
    if row.onboarding_started:
        return
    before = _audit_view(row)
    row.onboarding_started = True
    _set_state(row)
    await _record_change(session, row, before, action="account.onboarding_started", actor=actor)


# Stripe no longer lets the platform read the account: deauthorized, or deleted.
LOST_ACCESS = {
    StripeErrorKind.ACCOUNT_INVALID,
    StripeErrorKind.PERMISSION,
    StripeErrorKind.RESOURCE_MISSING,
}


async def sync_account(
    session: AsyncSession, gateway: StripeGateway, account_id: str, *, actor: str
) -> ConnectedAccount:
    """Refetch the account from Stripe and apply it (the row is locked meanwhile, so two
    syncs can't commit their answers in the wrong order)."""
    row = await lock_account_for_write(session, account_id)
    before = _audit_view(row)
    try:
        data = await stripe_api.retrieve(gateway, api_of(row), account_id)
    except StripeGatewayError as exc:
        if exc.kind not in LOST_ACCESS:
            raise
        row.disconnected_at = row.disconnected_at or utcnow()
        _set_state(row)
        row.synced_at = utcnow()
    else:
        apply_stripe_account(row, data)
    await _record_change(session, row, before, action="account.synced", actor=actor)
    return row


async def upsert_from_stripe(
    session: AsyncSession,
    data: dict[str, Any],
    *,
    default_charge_model: ChargeModel,
    actor: str,
    api: stripe_api.AccountsApi = "v1",
) -> bool:
    """Insert or refresh one account seen on Stripe (`data` in the v1 shape, read through
    `api`); True when it was new."""
    row = await session.scalar(select(ConnectedAccount).where(ConnectedAccount.id == data["id"]))
    if row is not None:
        before = _audit_view(row)
        apply_stripe_account(row, data)
        await _record_change(session, row, before, action="account.synced", actor=actor)
        return False
    metadata: dict[str, str] = dict(data.get("metadata") or {})
    ref = metadata.get(EXTERNAL_REF_KEY)
    if ref and await session.scalar(
        select(ConnectedAccount.id).where(ConnectedAccount.external_ref == ref)
    ):
        ref = None
    model_value = metadata.get(CHARGE_MODEL_KEY)
    charge_model = (
        ChargeModel(model_value) if model_value in set(ChargeModel) else default_charge_model
    )
    row = ConnectedAccount(
        id=data["id"],
        external_ref=ref,
        charge_model=charge_model.value,
        account_kind=_kind_of(data),
        accounts_api=api,
        metadata_={
            k: v for k, v in metadata.items() if k not in (EXTERNAL_REF_KEY, CHARGE_MODEL_KEY)
        },
    )
    apply_stripe_account(row, data)
    session.add(row)
    await audit.record(
        session, actor=actor, action="account.imported", account_id=row.id, after=_audit_view(row)
    )
    return True


async def start_import(
    session: AsyncSession,
    after_commit: AfterCommit,
    *,
    charge_model: ChargeModel,
    actor: str,
    api: stripe_api.AccountsApi = "v1",
) -> AccountImport:
    """Record an import run (of the accounts on `api`) and queue its job after commit."""
    run = AccountImport(charge_model=charge_model.value, actor=actor, accounts_api=api)
    session.add(run)
    await session.flush()
    after_commit.enqueue(session, "import_accounts", run.id)
    return run


async def list_accounts(
    session: AsyncSession,
    *,
    limit: int,
    starting_after: str | None = None,
    status: str | None = None,
    charge_model: str | None = None,
    country: str | None = None,
    q: str | None = None,
    accounts_api: str | None = None,
) -> Page[ConnectedAccount]:
    """Newest first, keyset-paginated on `seq`."""
    stmt = select(ConnectedAccount)
    if accounts_api is not None:
        stmt = stmt.where(ConnectedAccount.accounts_api == accounts_api)
    if status is not None:
        stmt = stmt.where(ConnectedAccount.status == status)
    if charge_model is not None:
        stmt = stmt.where(ConnectedAccount.charge_model == charge_model)
    if country is not None:
        stmt = stmt.where(ConnectedAccount.country == country.upper())
    if q and EMAIL_SHAPE.fullmatch(q.strip()):
        # Someone looking a seller up by email wants that seller: an exact match on its
        # own index, milliseconds at a million accounts (a substring scan is not).
        stmt = stmt.where(func.lower(ConnectedAccount.email) == q.strip().lower())
    elif q:
        needle = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            or_(
                ConnectedAccount.search_text.like(f"%{needle}%", escape="\\"),
                ConnectedAccount.id == q.strip(),
            )
        )
    return await keyset_page(
        session,
        stmt,
        order=ConnectedAccount.seq,
        limit=limit,
        starting_after=starting_after,
        cursor_id=ConnectedAccount.id,
        what="account",
    )


async def sync_stale_accounts(
    session: AsyncSession, gateway: StripeGateway, *, older_than: timedelta, limit: int
) -> int:
    """Refetch the accounts whose last sync is older than `older_than` (reconciliation)."""
    cutoff = utcnow() - older_than
    ids = list(
        await session.scalars(
            select(ConnectedAccount.id)
            .where(or_(ConnectedAccount.synced_at.is_(None), ConnectedAccount.synced_at < cutoff))
            .order_by(ConnectedAccount.synced_at.asc().nulls_first())
            .limit(limit)
        )
    )
    for account_id in ids:
        await sync_account(session, gateway, account_id, actor="system:reconcile")
    return len(ids)
