"""The bulk job wizard: pick the accounts, write the patch, see a dry run, then run it.

One multipart form does every step (no script needed): its buttons re-render it
(the matching count, the next page of accounts to tick) or submit a dry run. The dry
run is a bulk job with `dry_run=true`, made by the API's own `create_job`, so the
patch is checked by the same functions and the diff table shows what the API
computed; nothing is written to Stripe until "Run it" on that job's page makes the
real job, with its canary, for exactly the accounts the dry run covered.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any, Final

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect

from platform_service.accounts import service as accounts
from platform_service.accounts.charge_models import ChargeModel
from platform_service.accounts.onboarding import OnboardingStatus
from platform_service.accounts.schemas import STRIPE_COUNTRIES
from platform_service.branding.patches import validate_branding_patch
from platform_service.branding.rules import BORDER_STYLES, FONT_FAMILIES, font_label
from platform_service.bulk import service as bulk
from platform_service.bulk.models import TERMINAL_JOB_STATUSES
from platform_service.bulk.schemas import BulkJobCreate, Canary, Target, TargetFilter
from platform_service.deps import AfterCommitDep, DbSession, GatewayDep, SettingsDep
from platform_service.errors import NotFound, ServiceError, ValidationFailed
from platform_service.portal.applier import validate_portal_patch
from platform_service.web import labels
from platform_service.web.common import admin_caller
from platform_service.web.i18n import N_, gettext
from platform_service.web.render import page

ACCOUNTS_PAGE: Final = 25
COUNT_CAP: Final = 10_000
MAX_IDS: Final = 100_000  # the API's limit on target.account_ids
CSV_MAX_BYTES: Final = 4_000_000
UNKNOWN_SHOWN: Final = 10
ACCOUNT_ID: Final = re.compile(r"acct_[A-Za-z0-9]+")
TARGET_MODES: Final = ("filter", "accounts", "csv")
KINDS: Final = ("branding", "portal_settings")
BRANDING_FIELDS: Final = (
    "display_name",
    "button_color",
    "background_color",
    "font_family",
    "border_style",
)
# The settings document's main switches: form name -> (group, field) of the PATCH body.
PORTAL_TOGGLES: Final[dict[str, tuple[str, str]]] = {
    "switch_plans": ("subscription_management", "switch_plans"),
    "update_quantities": ("subscription_management", "update_quantities"),
    "cancel_subscriptions": ("cancellations", "cancel_subscriptions"),
    "cancellation_reason": ("cancellations", "cancellation_reason"),
    "billing_information": ("customer_billing", "billing_information"),
    "payment_methods": ("customer_billing", "payment_methods"),
    "invoice_history": ("invoice_history", "invoice_history"),
}
PORTAL_LABELS: Final = {
    "switch_plans": N_("Switch plans"),
    "update_quantities": N_("Update quantities"),
    "cancel_subscriptions": N_("Cancel subscriptions"),
    "cancellation_reason": N_("Cancellation reason"),
    "billing_information": N_("Billing information"),
    "payment_methods": N_("Payment methods"),
    "invoice_history": N_("Invoice history"),
}
BORDER_LABELS: Final = {
    "rounded": N_("Rounded"),
    "rectangular": N_("Rectangular"),
    "pill": N_("Pill"),
}
CANCEL_MODE_LABELS: Final = {
    "at_period_end": N_("At the end of the billing period"),
    "immediately": N_("Immediately"),
}
# What a field needs, said in the page's language; the service's own words follow in English.
FIELD_HINTS: Final = {
    "b_display_name": N_("At most 200 characters, not blank."),
    "b_button_color": N_("A colour as #RRGGBB, like #0A2540."),
    "b_background_color": N_("A colour as #RRGGBB, like #F6F9FC."),
    "b_font_family": N_("Choose one of Stripe's fonts."),
    "b_border_style": N_("Choose one of the shapes."),
    "p_headline": N_("At most 60 characters."),
    "p_cancel_mode": N_("Choose when a cancellation takes effect."),
}
TEXT_FIELDS: Final = (
    "target_mode",
    "f_status",
    "f_charge_model",
    "f_country",
    "f_q",
    "f_all",
    "after",
    "next_after",
    "kind",
    *(f"b_{name}" for name in BRANDING_FIELDS),
    *(f"p_{name}" for name in PORTAL_TOGGLES),
    "p_cancel_mode",
    "p_headline",
    "action",
)

Errors = dict[str, tuple[str, str | None]]  # form field -> (translated hint, service's words)


def _problem(errors: Errors, field: str, hint: str, detail: str | None = None) -> None:
    errors.setdefault(field, (gettext(hint), detail))


def _filter_values(values: Mapping[str, str]) -> dict[str, str]:
    """The filter as `list_accounts` takes it; unknown choices are no filter."""
    status = values["f_status"] if values["f_status"] in {s.value for s in OnboardingStatus} else ""
    model = (
        values["f_charge_model"]
        if values["f_charge_model"] in {m.value for m in ChargeModel}
        else ""
    )
    country = values["f_country"] if values["f_country"] in STRIPE_COUNTRIES else ""
    return {
        "status": status,
        "charge_model": model,
        "country": country,
        "q": values["f_q"][:200],
    }


def _filter_is_empty(values: Mapping[str, str]) -> bool:
    return not any(_filter_values(values).values()) and values["f_all"] != "on"


async def _matching_ids(
    session: DbSession, values: Mapping[str, str], *, cap: int
) -> tuple[list[str], bool]:
    """Ids of the connected accounts the filter matches (as a job would target them), up to
    `cap`; True when there were more."""
    f = _filter_values(values)
    ids: list[str] = []
    after: str | None = None
    while True:
        found = await accounts.list_accounts(
            session,
            limit=500,
            starting_after=after,
            status=f["status"] or None,
            charge_model=f["charge_model"] or None,
            country=f["country"] or None,
            q=f["q"] or None,
        )
        for row in found.rows:
            if row.disconnected_at is None:
                if len(ids) == cap:
                    return ids, True
                ids.append(row.id)
        if not found.has_more or not found.rows:
            return ids, False
        after = found.rows[-1].id


def parse_account_csv(data: bytes) -> tuple[list[str], list[str]]:
    """Account ids from a CSV (the first column; a header row is allowed), and the problems,
    translated: malformed lines are named by number."""
    if len(data) > CSV_MAX_BYTES:
        return [], [gettext("The file is larger than 4 MB.")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [gettext("The file is not UTF-8 text.")]
    ids: list[str] = []
    bad: list[int] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            first = row[0].strip() if row else ""
            if not first:
                continue
            if number == 1 and first.lower() in {"account_id", "account", "id"}:
                continue
            if ACCOUNT_ID.fullmatch(first) and len(first) <= 64:
                ids.append(first)
            else:
                bad.append(number)
    except csv.Error:
        return [], [gettext("The file is not a CSV file.")]
    problems: list[str] = []
    if bad:
        shown = ", ".join(str(n) for n in bad[:UNKNOWN_SHOWN])
        problems.append(
            gettext("Lines %(lines)s are not account ids (acct_…).") % {"lines": shown}
            if len(bad) > 1
            else gettext("Line %(lines)s is not an account id (acct_…).") % {"lines": shown}
        )
    unique = list(dict.fromkeys(ids))
    if not unique and not bad:
        problems.append(gettext("The file holds no account id."))
    if len(unique) > MAX_IDS:
        problems.append(gettext("At most 100,000 accounts per job."))
    return unique, problems


async def _unknown_ids(session: DbSession, ids: list[str]) -> list[str]:
    unknown: list[str] = []
    for account_id in ids:
        try:
            await accounts.get_account(session, account_id)
        except NotFound:
            unknown.append(account_id)
            if len(unknown) > UNKNOWN_SHOWN:
                break
    return unknown


def branding_patch(values: Mapping[str, str]) -> dict[str, Any]:
    """The fields given; a field left empty is left as it is on each account."""
    return {name: values[f"b_{name}"] for name in BRANDING_FIELDS if values[f"b_{name}"]}


def portal_patch(values: Mapping[str, str]) -> dict[str, Any]:
    """A portal settings PATCH body of the switches set to on or off (the rest inherited)."""
    patch: dict[str, dict[str, Any]] = {}
    for name, (group, field) in PORTAL_TOGGLES.items():
        choice = values[f"p_{name}"]
        if choice in ("on", "off"):
            patch.setdefault(group, {})[field] = choice == "on"
    if values["p_cancel_mode"]:
        patch.setdefault("cancellations", {})["cancel_mode"] = values["p_cancel_mode"]
    if values["p_headline"]:
        patch.setdefault("customisation", {})["headline"] = values["p_headline"]
    return patch


def _field_of(param: str | None, kind: str) -> str:
    """The form field a service error's `param` names (`patch.button_color` -> b_button_color)."""
    name = (param or "").removeprefix("patch.").removeprefix("patch")
    if kind == "branding" and name in BRANDING_FIELDS:
        return f"b_{name}"
    leaf = name.rsplit(".", 1)[-1]
    if kind == "portal_settings" and leaf in (*PORTAL_TOGGLES, "cancel_mode", "headline"):
        return f"p_{leaf}"
    return "patch"


def check_patch(kind: str, values: Mapping[str, str], errors: Errors) -> dict[str, Any]:
    """The patch, checked by the functions the API checks a bulk patch with."""
    if kind == "branding":
        patch = branding_patch(values)
        for param, message in validate_branding_patch(patch):
            field = _field_of(param, kind)
            _problem(errors, field, FIELD_HINTS.get(field, N_("Not valid.")), message)
    else:
        patch = portal_patch(values)
        try:
            validate_portal_patch(patch)
        except ValidationFailed as exc:
            field = _field_of(exc.param, kind)
            _problem(errors, field, FIELD_HINTS.get(field, N_("Not valid.")), exc.message)
    if not patch and not errors:
        _problem(errors, "patch", N_("Change at least one field."))
    return patch


class BulkWizardController(Controller):
    path = "/ui/bulk-jobs"
    include_in_schema = False

    async def _render(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        values: dict[str, str],
        ticked: list[str],
        errors: Errors,
        *,
        status_code: int = 200,
    ) -> Response[str]:
        count: tuple[int, bool] | None = None
        if values["target_mode"] == "filter" and not _filter_is_empty(values):
            ids, more = await _matching_ids(session, values, cap=COUNT_CAP)
            count = (len(ids), more)
        try:
            listed = await accounts.list_accounts(
                session, limit=ACCOUNTS_PAGE, starting_after=values["after"] or None
            )
        except ValidationFailed:  # the page's cursor account is gone: start over
            values["after"] = ""
            listed = await accounts.list_accounts(session, limit=ACCOUNTS_PAGE)
        rows = [accounts.account_out(r) for r in listed.rows]
        on_page = {a.id for a in rows}
        return page(
            request,
            "web/bulk_new.html",
            {
                "values": values,
                "errors": errors,
                "count": count,
                "count_cap": COUNT_CAP,
                "rows": rows,
                "has_more": listed.has_more,
                "ticked": set(ticked),
                "ticked_elsewhere": [a for a in ticked if a not in on_page],
                "statuses": [s.value for s in OnboardingStatus],
                "charge_models": [m.value for m in ChargeModel],
                "countries": sorted(STRIPE_COUNTRIES, key=labels.country_name),
                "fonts": [(f, font_label(f)) for f in FONT_FAMILIES],
                "border_styles": [(s, BORDER_LABELS[s]) for s in BORDER_STYLES],
                "portal_toggles": list(PORTAL_LABELS.items()),
                "cancel_modes": list(CANCEL_MODE_LABELS.items()),
            },
            status_code=status_code,
        )

    @get("/new")
    async def wizard(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
        admin_caller(request)
        values = dict.fromkeys(TEXT_FIELDS, "")
        values.update(target_mode="filter", kind="branding")
        return await self._render(request, db_session, values, [], {})

    @post("/new", status_code=200)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
        settings: SettingsDep,
    ) -> Response[Any]:
        """Re-render (count, page of accounts) or make the dry run and show it."""
        caller = admin_caller(request)
        form = await request.form()
        values = {name: str(form.get(name) or "").strip() for name in TEXT_FIELDS}
        if values["target_mode"] not in TARGET_MODES:
            values["target_mode"] = "filter"
        if values["kind"] not in KINDS:
            values["kind"] = "branding"
        ticked = list(
            dict.fromkeys(
                v for v in form.getall("account_ids", []) if isinstance(v, str) and v.strip()
            )
        )
        action = values["action"]
        if action == "next":
            values["after"] = values["next_after"]
        elif action == "first":
            values["after"] = ""
        if action != "dry_run":
            return await self._render(request, db_session, values, ticked, {})

        errors: Errors = {}
        target = await self._target(db_session, values, ticked, form.get("csv_file"), errors)
        patch = check_patch(values["kind"], values, errors)
        if errors or target is None:
            return await self._render(request, db_session, values, ticked, errors, status_code=422)
        wanted = BulkJobCreate(
            kind=values["kind"],  # type: ignore[arg-type]  # checked against KINDS above
            target=target,
            patch=patch,
            dry_run=True,
        )
        try:
            # A refused submission stores nothing: its job and items roll back here.
            async with db_session.begin_nested():
                job = await bulk.create_job(
                    db_session, gateway, after_commit, settings, wanted, actor=caller.actor
                )
        except ValidationFailed as exc:
            field = (
                _field_of(exc.param, values["kind"])
                if (exc.param or "").startswith("patch")
                else "target"
            )
            _problem(errors, field, N_("Not valid."), exc.message)
            return await self._render(request, db_session, values, ticked, errors, status_code=422)
        return Redirect(f"/ui/bulk-jobs/{job.id}", status_code=303)

    async def _target(
        self,
        session: DbSession,
        values: Mapping[str, str],
        ticked: list[str],
        upload: Any,
        errors: Errors,
    ) -> Target | None:
        mode = values["target_mode"]
        if mode == "accounts":
            if not ticked:
                _problem(errors, "account_ids", N_("Tick at least one account."))
                return None
            return Target(account_ids=ticked[:MAX_IDS])
        if mode == "csv":
            return await self._csv_target(session, upload, errors)
        if _filter_is_empty(values):
            _problem(errors, "filter", N_("Choose at least one filter, or every account."))
            return None
        f = _filter_values(values)
        if f["q"]:
            # The API's filter has no text search: the matching accounts go by id.
            ids, more = await _matching_ids(session, values, cap=MAX_IDS)
            if more:
                _problem(
                    errors, "filter", N_("More than 100,000 accounts match: narrow the search.")
                )
                return None
            if not ids:
                _problem(errors, "filter", N_("No connected account matches."))
                return None
            return Target(account_ids=ids)
        return Target(
            filter=TargetFilter(
                status=OnboardingStatus(f["status"]) if f["status"] else None,
                charge_model=ChargeModel(f["charge_model"]) if f["charge_model"] else None,
                country=f["country"] or None,
                all=values["f_all"] == "on",
            )
        )

    async def _csv_target(self, session: DbSession, upload: Any, errors: Errors) -> Target | None:
        if not isinstance(upload, UploadFile) or not upload.filename:
            _problem(errors, "csv_file", N_("Choose a CSV file of account ids."))
            return None
        data = await upload.read(CSV_MAX_BYTES + 1)
        ids, problems = parse_account_csv(data)
        if problems:
            errors["csv_file"] = (" ".join(problems), None)
            return None
        unknown = await _unknown_ids(session, ids)
        if unknown:
            shown = ", ".join(unknown[:UNKNOWN_SHOWN]) + (
                " …" if len(unknown) > UNKNOWN_SHOWN else ""
            )
            errors["csv_file"] = (
                gettext("These accounts are not connected to the platform: %(ids)s")
                % {"ids": shown},
                None,
            )
            return None
        return Target(account_ids=ids)

    @post("/{job_id:str}/apply", status_code=303)
    async def apply(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        gateway: GatewayDep,
        after_commit: AfterCommitDep,
        settings: SettingsDep,
        job_id: FromPath[str],
    ) -> Redirect:
        """Run a finished dry run for real: the same patch, on the accounts it covered."""
        caller = admin_caller(request)
        back = f"/ui/bulk-jobs/{job_id}"
        dry = await bulk.get_job(db_session, job_id)
        if not dry.dry_run or dry.status not in TERMINAL_JOB_STATUSES:
            return Redirect(f"{back}?error=not_a_finished_dry_run", status_code=303)
        form = await request.form()
        raw = str(form.get("canary") or "").strip()
        canary: Canary | None = None
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                return Redirect(f"{back}?error=canary_invalid", status_code=303)
            canary = Canary(count=int(raw))
        ids: list[str] = []
        cursor: int | None = None
        while True:
            found = await bulk.list_items(
                db_session, job_id, status=None, limit=1000, starting_after=cursor
            )
            ids.extend(i.account_id for i in found.rows)
            if not found.has_more or not found.rows:
                break
            cursor = found.rows[-1].seq
        wanted = BulkJobCreate(
            kind=dry.kind,  # type: ignore[arg-type]  # a stored job's kind is a BulkKind
            target=Target(account_ids=ids),
            patch=dict(dry.patch),
            canary=canary,
        )
        try:
            async with db_session.begin_nested():
                job = await bulk.create_job(
                    db_session, gateway, after_commit, settings, wanted, actor=caller.actor
                )
        except ServiceError as exc:
            return Redirect(f"{back}?error={exc.code}", status_code=303)
        return Redirect(f"/ui/bulk-jobs/{job.id}", status_code=303)
