"""Logs and request metrics: one JSON object per line, a request id on every line of a request.

Every logger of the process (the service's, uvicorn's, arq's) goes through
structlog's stdlib formatter, so each line carries the context bound for the
request or job that wrote it (`request_id`, `job_id`). Secrets never reach a
line: API keys, Stripe keys, webhook secrets, onboarding refresh tokens and
portal session URLs are replaced before rendering, whoever logged them.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

ACCESS = logging.getLogger("platform_service.access")
REQUEST_ID_HEADER = "x-request-id"
# A caller's id is echoed only when it is short and plain, so it can't forge log lines.
_CALLER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+"), r"\1_\2_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), "whsec_[redacted]"),
    (re.compile(r"\bpsk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), "psk_[redacted]"),
    # Onboarding refresh tokens and any other bearer value in a query string.
    (re.compile(r"(?i)([?&](?:token|key|api_key|secret)=)[^&\s\"']+"), r"\1[redacted]"),
    # Portal session URLs open a customer's billing without a login.
    (
        re.compile(r"(/p/session/|/billing_portal/sessions/|/portal/session/)[^\s\"'?#]+"),
        r"\1[redacted]",
    ),
)

HTTP_REQUESTS = Counter(
    "platform_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "platform_http_request_duration_seconds",
    "Time from request start to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def redact(text: str) -> str:
    """`text` with every secret the service knows the shape of replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Route every stdlib logger through one JSON (or console) renderer with bound context."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "arq", "arq.worker"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Its lines carry the raw query string (refresh tokens): ours replace them.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def request_context(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: request id (bound for logs, echoed back), access log line, metrics."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        request_id = (
            incoming if incoming and _CALLER_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        )
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, receive, send_with_id)
            except Exception as exc:
                # Raised by a later middleware (a refused key): the exception handler
                # outside answers with the error's status, not a 500.
                code = getattr(exc, "status_code", 500)
                status = code if isinstance(code, int) else 500
                raise
            finally:
                elapsed = time.perf_counter() - start
                route = str(scope.get("path_template") or "unmatched")
                method = str(scope.get("method", ""))
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_LATENCY.labels(method, route).observe(elapsed)
                ACCESS.info(
                    "request",
                    extra={
                        "method": method,
                        # The path only: query strings carry tokens.
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )

    return middleware


def _header(scope: Scope, name: str) -> str | None:
    raw = name.encode()
    for key, value in scope.get("headers", ()):
        if key.lower() == raw:
            return bytes(value).decode("latin-1")
    return None
