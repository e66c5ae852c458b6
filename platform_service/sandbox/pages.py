"""HTML pages behind the URLs the sandbox hands out: hosted onboarding (account links)
and the customer portal (portal sessions). Both say "Sandbox" on every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from platform_service.sandbox.resources.accounts import set_outcome
from platform_service.sandbox.resources.events_v2 import link_returned
from platform_service.sandbox.state import SandboxState, now


def template_config(directory: Path) -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=directory, engine=JinjaTemplateEngine)


def _state(request: Request[Any, Any, Any]) -> SandboxState:
    state: SandboxState = request.app.state.runtime.state
    return state


@get("/", sync_to_thread=False)
def index(request: Request[Any, Any, Any]) -> Template:
    state = _state(request)
    return Template(
        template_name="index.html",
        context={"platform": state.platform_account, "accounts": list(state.accounts().values())},
    )


@get("/_sandbox/pages/onboarding/{token:str}", sync_to_thread=False)
def onboarding_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Template | Redirect:
    state = _state(request)
    link = state.account_links.get(token)
    if link is None or link["used"] or link["expires_at"] < now():
        if link and link["refresh_url"]:
            # Stripe sends expired or reused links to refresh_url to mint a new one.
            return Redirect(path=link["refresh_url"])
        return Template(template_name="expired.html", context={}, status_code=410)
    account = state.accounts()[link["account"]]
    return Template(template_name="onboarding.html", context={"account": account, "token": token})


@post("/_sandbox/pages/onboarding/{token:str}", status_code=303, sync_to_thread=False)
def onboarding_submit(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    state = _state(request)
    link = state.account_links.get(token)
    if link is None or link["used"] or link["expires_at"] < now():
        return Template(template_name="expired.html", context={}, status_code=410)
    outcome = "complete" if data.get("outcome") == "complete" else "requirements_due"
    link["used"] = True
    account = set_outcome(state, state.accounts()[link["account"]], outcome)
    link_returned(state, link)
    if link["return_url"]:
        return Redirect(path=link["return_url"])
    return Template(
        template_name="onboarding_done.html",
        context={"account": account, "outcome": outcome},
        status_code=200,
    )


def portal_branding(state: SandboxState, scope_id: str, on_behalf_of: str | None) -> dict[str, Any]:
    """The branding Stripe's portal shows: the connected account's for a `Stripe-Account`
    or `on_behalf_of` session, the platform's otherwise."""
    source_id = scope_id if scope_id != state.platform_id else on_behalf_of
    account = state.accounts().get(source_id or "") if source_id else None
    source = "connected_account" if account else "platform"
    account = account or state.platform_account
    branding = dict(account["settings"]["branding"])
    for key in ("icon", "logo"):
        branding[f"{key}_url"] = f"/_sandbox/files/{branding[key]}" if branding.get(key) else None
    return {
        "source": source,
        "account_id": account["id"],
        "display_name": account["business_profile"].get("name") or account["id"],
        **branding,
    }


@get("/_sandbox/pages/portal/{token:str}", sync_to_thread=False)
def portal_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    state = _state(request)
    entry = state.portal_sessions.get(token)
    if entry is None:
        return Template(template_name="expired.html", context={}, status_code=404)
    session = entry["session"]
    scope = state.scope_for(entry["scope"])
    owner = (
        ("customer_account", session["customer_account"])
        if session.get("customer_account")
        else ("customer", session["customer"])
    )
    subscriptions = [
        s
        for s in scope.table("subscriptions").values()
        if s.get(owner[0]) == owner[1]
        and (session["on_behalf_of"] is None or s["on_behalf_of"] == session["on_behalf_of"])
    ]
    configuration = scope.get("billing_portal.configurations", session["configuration"])
    context = {
        "session": session,
        "customer": _portal_customer(state, scope.account_id, owner),
        "subscriptions": subscriptions,
        "configuration": configuration,
        "branding": portal_branding(state, entry["scope"], session["on_behalf_of"]),
        "scope": entry["scope"],
    }
    return Template(template_name="portal.html", context=context)


def _portal_customer(
    state: SandboxState, scope_id: str, owner: tuple[str, str]
) -> dict[str, Any] | None:
    """The customer the portal greets: a Customer, or a customer-configured Account."""
    kind, object_id = owner
    if kind == "customer":
        return state.scope_for(scope_id).get("customers", object_id)
    record = state.v2_accounts.get(object_id)
    if record is None:
        return None
    base = record["base"]
    return {"id": object_id, "name": base["business_profile"]["name"], "email": base["email"]}


@get("/_sandbox/pages/login/{token:str}", sync_to_thread=False)
def login_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """Where a configuration's `login_page.url` points: Stripe asks for an email here.

    The page lives only while its configuration is active and still hands out this URL.
    """
    state = _state(request)
    scope_id, config_id = state.login_pages.get(token, ("", ""))
    scope = state.scopes.get(scope_id)
    config = scope.get("billing_portal.configurations", config_id) if scope else None
    if (
        config is None
        or not config["active"]
        or not (config["login_page"]["url"] or "").endswith(f"/login/{token}")
    ):
        return Template(template_name="expired.html", context={}, status_code=404)
    return Template(template_name="login.html", context={"config_id": config_id})


handlers = [index, onboarding_page, onboarding_submit, portal_page, login_page]
