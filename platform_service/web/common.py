"""What every console controller uses: who is signed in, and running a refusable action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from platform_service.auth.keys import Caller
from platform_service.errors import NotFound, ServiceError
from platform_service.web.render import signed_in
from platform_service.web.security import LoginRequired


def web_caller(request: Request[Any, Any, Any]) -> Caller:
    caller, _ = signed_in(request)
    if caller is None:
        raise LoginRequired
    return caller


def admin_caller(request: Request[Any, Any, Any]) -> Caller:
    """The signed-in caller, an admin: anyone else gets the 404 of a missing page."""
    caller = web_caller(request)
    if not caller.is_admin:
        raise NotFound("No such page.")
    return caller


def account_caller(request: Request[Any, Any, Any], account_id: str) -> Caller:
    """The signed-in caller, allowed to see this account (another seller's is a 404)."""
    caller = web_caller(request)
    if not caller.can_access(account_id):
        raise NotFound(f"No such account: '{account_id}'")
    return caller


async def act(
    session: AsyncSession,
    action: Callable[[], Awaitable[Any]],
    *,
    back: str,
    notice: str | None = None,
) -> Redirect:
    """Run an action and go back to `back`, with the refusal's code if refused.

    The redirect commits the request (2xx and 3xx do), so a refused action runs in a
    savepoint: whatever it wrote before refusing is rolled back, not committed.
    """
    joiner = "&" if "?" in back else "?"
    try:
        async with session.begin_nested():
            await action()
    except ServiceError as exc:
        return Redirect(f"{back}{joiner}error={exc.code}", status_code=303)
    if notice:
        return Redirect(f"{back}{joiner}notice={notice}", status_code=303)
    return Redirect(back, status_code=303)
