"""Rendering console pages: one Jinja environment with gettext, one layout context.

The console has its own environment (not the app's template engine) because its
templates translate with `{% trans %}` in the request's language, which the
portal preview's templates do not need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie

from platform_service.auth.keys import Caller
from platform_service.auth.sessions import ConsoleAuth
from platform_service.web import labels
from platform_service.web.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    current_language,
    gettext,
    ngettext,
)

TEMPLATES = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
# The callables read the request's language when called, so one environment serves all.
_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
_env.globals.update(
    label=labels.label,
    when=labels.when,
    country_name=labels.country_name,
    onboarding_reason=labels.onboarding_reason,
    CHARGE_MODEL_LABELS=labels.CHARGE_MODEL_LABELS,
    ACCOUNT_KIND_LABELS=labels.ACCOUNT_KIND_LABELS,
    ACCOUNTS_API_LABELS=labels.ACCOUNTS_API_LABELS,
    BULK_KIND_LABELS=labels.BULK_KIND_LABELS,
    LANGUAGES=LANGUAGES,
    LANGUAGE_NAMES=LANGUAGE_NAMES,
)


def query(**params: Any) -> str:
    """A query string of the params that are set (pagination and filter links)."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


_env.globals["query"] = query


def signed_in(request: Request[Any, Any, Any]) -> tuple[Caller | None, ConsoleAuth | None]:
    caller = request.scope.get("user")
    auth = request.scope.get("auth")
    return (
        caller if isinstance(caller, Caller) else None,
        auth if isinstance(auth, ConsoleAuth) else None,
    )


def render(template: str, context: dict[str, Any]) -> str:
    return _env.get_template(template).render(context)


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    secret: bool = False,
    cookies: Sequence[Cookie] = (),
) -> Response[str]:
    """A console page in the layout, in the request's language.

    `secret` pages (they show a bearer link) are never stored by the browser or a proxy.
    """
    caller, auth = signed_in(request)
    path = request.url.path
    here = f"{path}?{request.url.query}" if request.url.query else path
    html = render(
        template,
        {
            "caller": caller,
            "csrf_token": auth.csrf_token if auth else None,
            "lang": current_language(),
            "here": here,
            "path": path,
            **(context or {}),
        },
    )
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store" if secret else "private, no-cache"},
        cookies=list(cookies),
    )
