"""Error pages of the console: the JSON API's error, shown as a page in the layout.

The API's own handlers decide the status and code (one mapping for both); this
turns their answer into HTML with a way back. Only routes under `/ui` use it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from platform_service.errors import ErrorResponse, exception_handlers
from platform_service.web.i18n import N_, gettext
from platform_service.web.render import page
from platform_service.web.security import LoginRequired

TITLES = {
    400: N_("This request could not be understood"),
    401: N_("Please sign in"),
    403: N_("You are not allowed to do this"),
    404: N_("Page not found"),
    405: N_("This action is not available here"),
    409: N_("This conflicts with the current state"),
    413: N_("This is too large"),
    422: N_("Some values are not valid"),
    429: N_("Too many requests; try again in a moment"),
    502: N_("Stripe did not answer as expected"),
    503: N_("The service is busy; try again in a moment"),
}
EXPLANATIONS = {
    404: N_("There is no such page, or it is not yours to see."),
    403: N_("Your key does not allow this action, or the form was not sent from this console."),
    500: N_("Something went wrong on our side. It has been logged."),
}


def login_redirect(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    here = request.url.path
    if request.method == "GET" and here not in ("/ui", "/ui/", "/ui/login"):
        if request.url.query:
            here = f"{here}?{request.url.query}"
        return Redirect(f"/ui/login?next={quote(here, safe='')}", status_code=303)
    return Redirect("/ui/login", status_code=303)


def _html(api_handler: Any) -> Any:
    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        answer = api_handler(request, exc)
        status = int(answer.status_code)
        body = answer.content
        code = body.error.code if isinstance(body, ErrorResponse) else "internal_error"
        title = TITLES.get(status, N_("Something went wrong"))
        explanation = EXPLANATIONS.get(status if status < 500 else 500)
        response = page(
            request,
            "web/error.html",
            {
                "status": status,
                "title": gettext(title),
                "explanation": gettext(explanation) if explanation else None,
                "code": code,
            },
            status_code=status,
        )
        for name in ("retry-after",):
            if name in answer.headers:
                response.headers[name] = answer.headers[name]
        return response

    return handler


def html_exception_handlers() -> ExceptionHandlersMap:
    """The API's exception handlers, each answering a page instead of JSON."""
    handlers: ExceptionHandlersMap = {
        exc_type: _html(api_handler) for exc_type, api_handler in exception_handlers().items()
    }
    handlers[LoginRequired] = login_redirect
    return handlers


def console_aware(api_handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """The app's handlers, answering a page for paths under `/ui` that no console route
    handles (an unknown page, a method the page does not take): the API keeps JSON."""

    def either(api_handler: Any) -> Any:
        html = _html(api_handler)

        def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            path = request.url.path
            if path == "/ui" or path.startswith("/ui/"):
                return html(request, exc)  # type: ignore[no-any-return]
            return api_handler(request, exc)  # type: ignore[no-any-return]

        return handler

    return {exc_type: either(handler) for exc_type, handler in api_handlers.items()}
