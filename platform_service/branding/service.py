"""Branding: platform defaults, per-account branding written to Stripe, files, drift.

What is written to an account's `settings.branding` is the account's own value
for each field, falling back to the platform's default, i.e. exactly what
`resolve_branding` shows as effective for a connected-account source; so the
real portal matches the preview. `display_name` is the exception: it maps to
`business_profile.name`, the seller's public name, and is only written when the
account sets its own (the platform's name is never written onto a seller).
Stripe's API cannot clear an icon, logo or colour once set, so unsetting one
that Stripe holds with no platform default to fall back to is refused (422).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.accounts import service as accounts_service
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.models import ConnectedAccount
from platform_service.auth import audit
from platform_service.branding.models import AccountBranding, BrandingFile, PlatformBranding
from platform_service.branding.rules import (
    BRANDING_FIELDS,
    STRIPE_FILE_PURPOSE,
    BrandingImageError,
    BrandingValues,
    ImagePurpose,
    ResolvedBranding,
    check_branding_image,
    resolve_branding,
)
from platform_service.branding.schemas import (
    AccountBrandingOut,
    BrandingFields,
    BrandingFileOut,
    Drift,
    DriftReport,
    PlatformBrandingOut,
    StripeWrite,
)
from platform_service.db.base import utcnow
from platform_service.errors import PayloadTooLarge, ValidationFailed
from platform_service.runtime import Runtime
from platform_service.stripe.gateway import JSON, AccountUpdateParams
from platform_service.stripe.idempotency import idempotency_key as derive_key

# Our field name -> Accounts API `settings.branding` field.
STRIPE_BRANDING_FIELDS: Final[dict[str, str]] = {
    "icon": "icon",
    "logo": "logo",
    "button_color": "primary_color",
    "background_color": "secondary_color",
}
# Fields Stripe holds for the account (drift is checked on these).
STRIPE_FIELDS: Final[tuple[str, ...]] = ("display_name", *STRIPE_BRANDING_FIELDS)
_COLOR_FIELDS: Final = frozenset({"button_color", "background_color"})
_MAX_DISPLAY_NAME: Final = 200
_MSGSPEC_SUFFIX: Final = re.compile(r" - at `\$[^`]*`$")

BrandingDict = dict[str, Any]


class BrandingApplyResult(msgspec.Struct, kw_only=True):
    """What applying a branding patch did (or, on a dry run, would do).

    `diff` holds the account's own fields that change, each as
    `{"before": ..., "after": ...}`; `stripe_write` says whether Stripe is (or
    would be) written, which can happen with an empty diff when the platform
    defaults the account inherits moved since the last write.
    """

    changed: bool
    diff: dict[str, dict[str, Any]]
    stripe_write: bool = False
    version: int | None = None
    idempotency_key: str | None = None


# -- validation ---------------------------------------------------------------


def _field_error(name: str, value: Any) -> str | None:
    if name == "display_name" and isinstance(value, str) and len(value) > _MAX_DISPLAY_NAME:
        return f"display_name: at most {_MAX_DISPLAY_NAME} characters"
    try:
        msgspec.convert({name: value}, BrandingValues)
    except msgspec.ValidationError as exc:
        text = _MSGSPEC_SUFFIX.sub("", str(exc))
        return text if text.startswith(f"{name}:") else f"{name}: {text}"
    return None


def validate_branding_patch(patch: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem in a PATCH-shaped dict, as (param, message); empty when valid.

    Checks shape and values only (no database): usable when a bulk job is
    submitted. Whether logo/icon ids are known uploads is checked on apply.
    """
    if not isinstance(patch, Mapping):
        return [("patch", "must be an object of branding fields")]
    problems: list[tuple[str, str]] = []
    for name, value in patch.items():
        if name not in BRANDING_FIELDS:
            problems.append((str(name), f"Unknown field `{name}`"))
        elif value is not None and (message := _field_error(name, value)) is not None:
            problems.append((name, message))
    return problems


def normalise_patch(patch: Mapping[str, Any]) -> BrandingDict:
    """The patch with colours upper-cased; `ValidationFailed` (with `param`) on the first problem."""
    problems = validate_branding_patch(patch)
    if problems:
        param, message = problems[0]
        raise ValidationFailed(message, param=param)
    values = msgspec.convert({k: v for k, v in patch.items() if v is not None}, BrandingValues)
    return {name: getattr(values, name) if patch[name] is not None else None for name in patch}


# -- values -------------------------------------------------------------------


def _own(row: AccountBranding | PlatformBranding | None) -> BrandingDict:
    return {name: getattr(row, name) if row is not None else None for name in BRANDING_FIELDS}


def _values(fields: Mapping[str, Any]) -> BrandingValues:
    return BrandingValues(**{name: fields.get(name) for name in BRANDING_FIELDS})


def fields_out(fields: Mapping[str, Any]) -> BrandingFields:
    return msgspec.convert(
        {k: v for k, v in fields.items() if v is not None and k in BRANDING_FIELDS},
        BrandingFields,
    )


async def get_platform_row(session: AsyncSession) -> PlatformBranding | None:
    return await session.get(PlatformBranding, 1)


async def platform_values(session: AsyncSession) -> BrandingValues:
    """The platform's default branding (all unset when never configured)."""
    return _values(_own(await get_platform_row(session)))


def platform_out(row: PlatformBranding | None) -> PlatformBrandingOut:
    if row is None:
        return PlatformBrandingOut(branding=BrandingFields())
    return PlatformBrandingOut(
        branding=fields_out(_own(row)), version=row.version, updated_at=row.updated_at
    )


async def put_platform_branding(
    session: AsyncSession, values: Mapping[str, Any], *, actor: str
) -> PlatformBranding:
    """Replace the platform defaults (stored only: the platform's own Stripe branding
    is set in its Dashboard). Accounts pick them up on their next write."""
    fields = normalise_patch({name: values.get(name) for name in BRANDING_FIELDS})
    await _check_file_ids(session, fields)
    row = await session.get(PlatformBranding, 1, with_for_update=True)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(PlatformBranding(id=1, version=0))
        except IntegrityError:
            pass  # a concurrent first PUT created it; lock and overwrite it below
        row = await session.get(PlatformBranding, 1, with_for_update=True, populate_existing=True)
        assert row is not None
    before = _own(row)
    if before == fields:
        return row
    for name, value in fields.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_by = actor
    row.updated_at = utcnow()
    await audit.record(
        session,
        actor=actor,
        action="platform_branding.updated",
        account_id=None,
        before=_compact(before),
        after=_compact(fields),
    )
    return row


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# -- account branding -----------------------------------------------------------


def account_values(account: ConnectedAccount, row: AccountBranding | None) -> BrandingValues:
    """The account's own branding as `resolve_branding` takes it.

    With no display name of its own, the account is still known to its
    customers by the business name Stripe holds, so that stands in.
    """
    own = _own(row)
    if own["display_name"] is None and account.business_name and account.business_name.strip():
        own["display_name"] = account.business_name
    return _values(own)


async def effective_branding(session: AsyncSession, account_id: str) -> ResolvedBranding:
    """`resolve_branding` for the account as stored now."""
    account = await accounts_service.get_account(session, account_id)
    row = await session.get(AccountBranding, account_id)
    return resolve_branding(
        account_id=account.id,
        charge_model=ChargeModel(account.charge_model),
        account=account_values(account, row),
        platform=await platform_values(session),
    )


def account_branding_out(account_id: str, row: AccountBranding | None) -> AccountBrandingOut:
    if row is None:
        return AccountBrandingOut(
            account_id=account_id, branding=BrandingFields(), drift=Drift(detected=False, fields={})
        )
    last_write = None
    if (
        row.stripe_written is not None
        and row.stripe_written_at is not None
        and row.stripe_idempotency_key is not None
    ):
        last_write = StripeWrite(
            version=row.stripe_written_version or 0,
            idempotency_key=row.stripe_idempotency_key,
            written_at=row.stripe_written_at,
            values=dict(row.stripe_written),
        )
    return AccountBrandingOut(
        account_id=account_id,
        branding=fields_out(_own(row)),
        version=row.version,
        last_write=last_write,
        drift=Drift(
            detected=bool(row.drift_fields),
            fields=dict(row.drift_fields or {}),
            detected_at=row.drift_detected_at,
            checked_at=row.drift_checked_at,
        ),
        updated_at=row.updated_at,
    )


async def get_account_branding(session: AsyncSession, account_id: str) -> AccountBranding | None:
    """The account's branding row, or None when nothing was ever set (404 for no account)."""
    await accounts_service.get_account(session, account_id)
    return await session.get(AccountBranding, account_id)


async def _check_file_ids(session: AsyncSession, fields: Mapping[str, Any]) -> None:
    """logo/icon must be files this service uploaded, for that purpose."""
    for name in ("logo", "icon"):
        file_id = fields.get(name)
        if file_id is None:
            continue
        found = await session.get(BrandingFile, file_id)
        if found is None:
            raise ValidationFailed(
                f"{name}: '{file_id}' is not a branding file uploaded through this service; "
                f"upload it with POST /v1/accounts/{{id}}/branding/{name} first.",
                code="unknown_branding_file",
                param=name,
            )
        if found.purpose != name:
            raise ValidationFailed(
                f"{name}: '{file_id}' was uploaded as a {found.purpose}, not a {name}.",
                code="branding_file_purpose_mismatch",
                param=name,
            )


def _stripe_targets(own: Mapping[str, Any], platform: BrandingValues) -> BrandingDict:
    """What the account's Stripe branding should hold: own values, else the platform's."""
    targets: BrandingDict = {
        name: own.get(name) if own.get(name) is not None else getattr(platform, name)
        for name in STRIPE_BRANDING_FIELDS
    }
    targets["display_name"] = own.get("display_name")
    return targets


def _same(name: str, a: Any, b: Any) -> bool:
    if name in _COLOR_FIELDS and isinstance(a, str) and isinstance(b, str):
        return a.upper() == b.upper()
    return bool(a == b)


def _plan_write(
    targets: Mapping[str, Any], last: Mapping[str, Any], business_name: str | None
) -> tuple[AccountUpdateParams | None, BrandingDict]:
    """The Stripe update to send (None: nothing to send) and the values it leaves on Stripe."""
    for field in STRIPE_BRANDING_FIELDS:
        if targets[field] is None and last.get(field) is not None:
            raise ValidationFailed(
                f"{field}: Stripe holds {last[field]!r} for this account and its API cannot "
                "clear it; set another value instead (or set a platform default to fall back to).",
                code="branding_field_not_clearable",
                param=field,
            )
    written = {n: targets[n] for n in STRIPE_BRANDING_FIELDS if targets[n] is not None}
    name = targets.get("display_name")
    if name is not None:
        written["display_name"] = name
    branding_changed = any(not _same(n, targets[n], last.get(n)) for n in STRIPE_BRANDING_FIELDS)
    name_changed = name is not None and (name != last.get("display_name") or name != business_name)
    if not branding_changed and not name_changed:
        return None, written
    params: dict[str, Any] = {}
    branding = {STRIPE_BRANDING_FIELDS[n]: v for n, v in written.items() if n != "display_name"}
    if branding:
        params["settings"] = {"branding": branding}
    if name_changed:
        params["business_profile"] = {"name": name}
    if not params:
        return None, written
    return params, written  # type: ignore[return-value]


def _default_key(account_id: str, version: int, params: AccountUpdateParams) -> str:
    # The version makes each write's key new; the digest keeps a failed write's
    # key (remembered by Stripe for 24 h) from clashing with a corrected retry.
    digest = hashlib.sha256(msgspec.json.encode(params, order="sorted")).hexdigest()[:16]
    return derive_key("branding.account", account_id, f"v{version}", digest)


async def _apply(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    values: BrandingDict,
    *,
    replace: bool,
    idempotency_key: str | None,
    actor: str,
    dry_run: bool,
) -> tuple[BrandingApplyResult, AccountBranding | None]:
    # Lock the account row first: concurrent edits of one account then apply
    # one after the other, each to the branding the previous one committed.
    account = await accounts_service.get_account(session, account_id, for_update=not dry_run)
    row = await session.get(AccountBranding, account_id, populate_existing=True)
    before = _own(row)
    new_own = dict(values) if replace else {**before, **values}
    await _check_file_ids(
        session, {n: new_own[n] for n in ("logo", "icon") if new_own[n] != before[n]}
    )
    diff = {
        name: {"before": before[name], "after": new_own[name]}
        for name in BRANDING_FIELDS
        if before[name] != new_own[name]
    }
    last = dict(row.stripe_written or {}) if row is not None else {}
    targets = _stripe_targets(new_own, await platform_values(session))
    params, written = _plan_write(targets, last, account.business_name)
    result = BrandingApplyResult(changed=bool(diff) or params is not None, diff=diff)
    result.stripe_write = params is not None
    if dry_run or not result.changed:
        return result, row
    if row is None:
        row = AccountBranding(account_id=account_id, version=0, drift_fields={})
        session.add(row)
    row.version = (row.version or 0) + 1
    result.version = row.version
    if params is not None:
        key = idempotency_key or _default_key(account_id, row.version, params)
        updated = await runtime.gateway.update_account(account_id, params, idempotency_key=key)
        accounts_service.apply_stripe_account(account, updated)
        row.stripe_written = written
        row.stripe_written_at = utcnow()
        row.stripe_written_version = row.version
        row.stripe_idempotency_key = key
        # The write just overwrote whatever was changed outside the service.
        row.drift_fields = {}
        row.drift_detected_at = None
        result.idempotency_key = key
    for name, value in new_own.items():
        setattr(row, name, value)
    row.updated_by = actor
    row.updated_at = utcnow()
    await audit.record(
        session,
        actor=actor,
        action="branding.updated",
        account_id=account_id,
        before={"branding": _compact(before)},
        after={
            "branding": _compact(new_own),
            "version": row.version,
            **({"stripe": written, "idempotency_key": result.idempotency_key} if params else {}),
        },
    )
    await session.flush()
    return result, row


async def apply_branding_patch(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    patch: dict[str, Any],
    *,
    idempotency_key: str,
    actor: str,
    dry_run: bool = False,
) -> BrandingApplyResult:
    """Validate and apply a PATCH-shaped dict to one account's branding (bulk jobs use this).

    Computes the diff against the account's own branding; unless `dry_run`,
    writes Stripe with `idempotency_key` when needed, stores and audits.
    Raises `ValidationFailed` (with `param`), `NotFound`, or `StripeGatewayError`.
    """
    result, _ = await _apply(
        session,
        runtime,
        account_id,
        normalise_patch(patch),
        replace=False,
        idempotency_key=idempotency_key,
        actor=actor,
        dry_run=dry_run,
    )
    return result


async def put_account_branding(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    values: Mapping[str, Any],
    *,
    actor: str,
) -> AccountBranding | None:
    """Replace the account's own branding and write it to Stripe (key from account+version)."""
    new_own = normalise_patch({name: values.get(name) for name in BRANDING_FIELDS})
    _, row = await _apply(
        session,
        runtime,
        account_id,
        new_own,
        replace=True,
        idempotency_key=None,
        actor=actor,
        dry_run=False,
    )
    return row


async def patch_account_branding(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    patch: Mapping[str, Any],
    *,
    actor: str,
) -> AccountBranding | None:
    """Change only the fields sent (null unsets), then write to Stripe if needed."""
    _, row = await _apply(
        session,
        runtime,
        account_id,
        normalise_patch(patch),
        replace=False,
        idempotency_key=None,
        actor=actor,
        dry_run=False,
    )
    return row


# -- files ---------------------------------------------------------------------


def file_out(row: BrandingFile) -> BrandingFileOut:
    return BrandingFileOut(
        id=row.id,
        purpose=row.purpose,  # type: ignore[arg-type]
        format=row.format,  # type: ignore[arg-type]
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        created_at=row.created_at,
    )


def _image_error(exc: BrandingImageError) -> ValidationFailed | PayloadTooLarge:
    if exc.rule == "too_large":
        return PayloadTooLarge(exc.message, code="image_too_large", param="file")
    return ValidationFailed(exc.message, code=f"image_{exc.rule}", param="file")


async def store_branding_file(
    session: AsyncSession,
    runtime: Runtime,
    *,
    purpose: ImagePurpose,
    data: bytes,
    filename: str,
) -> BrandingFile:
    """Check the image, then return the stored file for its content, uploading it once."""
    if len(data) > runtime.settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"The upload is {len(data)} bytes; at most {runtime.settings.max_upload_bytes} "
            "are accepted.",
            code="image_too_large",
            param="file",
        )
    try:
        info = check_branding_image(data, purpose=purpose)
    except BrandingImageError as exc:
        raise _image_error(exc) from None
    digest = hashlib.sha256(data).hexdigest()
    found = await _file_by_hash(session, digest, purpose)
    if found is not None:
        return found
    # The key and the name Stripe sees come from the content only, so the same
    # bytes uploaded twice (a retry, two sellers, a bulk job) are one Stripe file.
    extension = "png" if info.format == "PNG" else "jpg"
    uploaded: JSON = await runtime.gateway.upload_file(
        STRIPE_FILE_PURPOSE[purpose],  # type: ignore[arg-type]
        f"{purpose}-{digest[:16]}.{extension}",
        data,
        idempotency_key=derive_key("branding.file", purpose, digest),
    )
    row = BrandingFile(
        id=str(uploaded["id"]),
        sha256=digest,
        purpose=purpose,
        format=info.format,
        width=info.width,
        height=info.height,
        size_bytes=info.size_bytes,
        filename=(filename or "upload")[:255],
        content=data,
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = await _file_by_hash(session, digest, purpose)
        if found is None:
            raise
        return found
    return row


async def _file_by_hash(session: AsyncSession, digest: str, purpose: str) -> BrandingFile | None:
    stmt = select(BrandingFile).where(
        BrandingFile.sha256 == digest, BrandingFile.purpose == purpose
    )
    found: BrandingFile | None = await session.scalar(stmt)
    return found


async def upload_branding_file(
    session: AsyncSession,
    runtime: Runtime,
    *,
    purpose: Literal["logo", "icon"],
    data: bytes,
    filename: str,
) -> str:
    """Check an image, upload it on the platform once per content hash; return its file id."""
    row = await store_branding_file(session, runtime, purpose=purpose, data=data, filename=filename)
    return row.id


async def get_file(session: AsyncSession, file_id: str) -> BrandingFile | None:
    return await session.get(BrandingFile, file_id)


# -- drift ---------------------------------------------------------------------


def stripe_view(data: Mapping[str, Any]) -> BrandingDict:
    """Stripe's account object reduced to our field names."""
    branding = (data.get("settings") or {}).get("branding") or {}
    view: BrandingDict = {
        "display_name": (data.get("business_profile") or {}).get("name"),
    }
    for name, stripe_name in STRIPE_BRANDING_FIELDS.items():
        value = branding.get(stripe_name)
        view[name] = value.get("id") if isinstance(value, dict) else value
    return view


def compare(expected: Mapping[str, Any], stripe: Mapping[str, Any]) -> dict[str, Any]:
    """Fields the service wrote that Stripe now holds differently."""
    return {
        name: {"expected": value, "stripe": stripe.get(name)}
        for name, value in expected.items()
        if name in STRIPE_FIELDS and not _same(name, value, stripe.get(name))
    }


async def check_drift(
    session: AsyncSession,
    runtime: Runtime,
    account_id: str,
    *,
    actor: str,
) -> DriftReport:
    """Refetch the account and compare its branding with the last write; record the answer."""
    # The account row lock waits for an in-flight branding write to commit, so a
    # check never compares Stripe's new values against the previous write.
    account = await accounts_service.get_account(session, account_id, for_update=True)
    data = await runtime.gateway.retrieve_account(account_id)
    row = await session.get(AccountBranding, account_id, populate_existing=True)
    now = utcnow()
    stripe = stripe_view(data)
    expected = dict(row.stripe_written) if row is not None and row.stripe_written else None
    fields = compare(expected, stripe) if expected is not None else {}
    pending: list[str] = []
    if row is not None:
        targets = _stripe_targets(_own(row), await platform_values(session))
        last = expected or {}
        pending = [
            name
            for name in STRIPE_FIELDS
            if targets.get(name) is not None and not _same(name, targets[name], last.get(name))
        ]
        await record_drift(session, row, fields, now=now, actor=actor)
    del account
    return DriftReport(
        account_id=account_id,
        in_sync=not fields,
        expected=expected,
        stripe=stripe,
        fields=fields,
        pending=pending,
        detected_at=row.drift_detected_at if row is not None else None,
        checked_at=now,
    )


async def record_drift(
    session: AsyncSession,
    row: AccountBranding,
    fields: dict[str, Any],
    *,
    now: Any,
    actor: str,
) -> None:
    """Store what drifted (keeping the first detection time while it persists); audit changes."""
    previous = dict(row.drift_fields or {})
    row.drift_checked_at = now
    if fields == previous:
        return
    row.drift_fields = fields
    if not fields:
        row.drift_detected_at = None
    elif not previous:
        row.drift_detected_at = now
    await audit.record(
        session,
        actor=actor,
        action="branding.drift_detected" if fields else "branding.drift_cleared",
        account_id=row.account_id,
        before={"drift": previous} if previous else None,
        after={"drift": fields} if fields else None,
    )
