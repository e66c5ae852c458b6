"""What every request's input must be before a handler sees it.

Hostile input is answered with a 4xx in the API's error shape, never with a 500
from deep inside a decoder or a database driver:

- a JSON body nests at most `MAX_JSON_DEPTH` levels: msgspec decodes
  recursively, and a body a thousand levels deep exhausts the stack;
- text (JSON strings and keys, query and path parameters) holds no C0 control
  character but tab, newline and carriage return: PostgreSQL refuses NUL in
  text, SQLite's LIKE stops at it, and none of the others is ever meant;
- an integer that names a row fits its column (`key_parameter`);
- a JSON body says so (`Content-Type: application/json` or `+json`): a form or
  plain text decoded as JSON by luck would be a different request from the one
  the client meant, so it is a 415, not a guess.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.params import ParameterKwarg
from litestar.serialization import decode_json
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from platform_service.errors import ServiceError, ValidationFailed

MAX_JSON_DEPTH = 64
_TOO_DEEP = f"The JSON body is nested too deeply: at most {MAX_JSON_DEPTH} levels."

# The largest value of PostgreSQL's `integer`, and of its `bigint` (SQLite's INTEGER).
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# JSON escapes a control character in a string (`\u0000`, `\b`, `\f`): a body without
# one of these holds no such string, and is not walked.
_ESCAPED_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\[bf]")


class BodyUnreadable(ServiceError):
    """A body that cannot be read at all: 400, like malformed JSON."""


class UnsupportedMediaType(ServiceError):
    """A body sent as something other than JSON to an operation that reads JSON."""

    status_code = 415
    code = "unsupported_media_type"


def check_json_media_type(content_type: str | None, body: bytes) -> None:
    """Refuse a non-empty body whose `Content-Type` is not JSON."""
    if not body.strip():
        return
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    shown = media or "none"
    raise UnsupportedMediaType(
        f"This operation reads a JSON body: send it with `Content-Type: application/json` "
        f"(got {shown})."
    )


def key_parameter(maximum: int, *, description: str | None = None) -> ParameterKwarg:
    """A path or query parameter that names a row by an integer column holding up to `maximum`.

    A value past the column's range names no row: a 422 on the parameter, not an
    overflow in the driver. (Litestar enforces only the outermost `Parameter` of a
    parameter's annotation, so this is one, not a constrained type.)
    """
    return ParameterKwarg(ge=1, le=maximum, description=description)


def check_text(value: str, param: str | None) -> None:
    """Refuse `value` (named `param`) if it holds a control character."""
    if _CONTROL.search(value):
        raise ValidationFailed(
            "Text may not contain control characters (only tab, newline and carriage return).",
            param=param,
        )


def _dotted(path: tuple[str | int, ...]) -> str | None:
    """`("a", 0, "b")` as `a[0].b`, the way validation errors name nested fields."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return text.lstrip(".") or None


def check_json(value: Any, body: bytes) -> None:
    """Refuse a decoded JSON body nested too deeply or holding a control character."""
    deep = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    if not deep and _ESCAPED_CONTROL.search(body) is None:
        return
    # Iterative, so that the walk itself cannot exhaust the stack.
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            check_text(node, _dotted(path))
            continue
        if not isinstance(node, dict | list):
            continue
        if len(path) >= MAX_JSON_DEPTH:
            raise BodyUnreadable(_TOO_DEEP)
        if isinstance(node, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(node))
            continue
        for key, item in node.items():
            # A key is named by the object holding it: the key itself is the bad text.
            check_text(key, _dotted(path))
            stack.append((item, (*path, key)))


def decode_body(body: bytes) -> Any:
    """The JSON `body`, decoded and checked (see the module's docstring)."""
    try:
        value = decode_json(body or b"null")
    except RecursionError:
        raise BodyUnreadable(_TOO_DEEP) from None
    except UnicodeDecodeError:
        raise BodyUnreadable("The JSON body is not valid UTF-8.") from None
    check_json(value, body)
    return value


class ApiRequest(Request[Any, Any, Any]):
    """Litestar's request, whose JSON body is checked before anything reads it."""

    async def json(self) -> Any:
        # Litestar caches the decoded body per connection: only a checked one is cached.
        if self._connection_state.json is Empty:
            body = await self.body()
            check_json_media_type(self.headers.get("content-type"), body)
            self._connection_state.json = decode_body(body)
        return await super().json()


def refuse_control_characters(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: a query or path parameter holding a control character is a 422 naming it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            for name, value in scope.get("path_params", {}).items():
                if isinstance(value, str):
                    check_text(value, name)
            for name, value in ASGIConnection[Any, Any, Any, Any](scope).query_params.multi_items():
                check_text(value, name)
        await app(scope, receive, send)

    return middleware
