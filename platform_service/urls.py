"""URL rules shared by the domains: where the service may send a browser."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

UrlProblem = Literal["invalid_url", "insecure_url"]


def check_url(value: str) -> tuple[UrlProblem, str] | None:
    """Why a URL a browser will be sent to is unacceptable, or None: https, or http on localhost."""
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        return "invalid_url", f"{value!r} contains whitespace or control characters."
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "invalid_url", f"{value!r} is not a valid URL."
    if parts.scheme not in ("http", "https") or not host:
        return "invalid_url", f"{value!r} is not an absolute http(s) URL."
    if parts.username is not None or parts.password is not None:
        # user@host URLs are a phishing staple: the user part looks like the host.
        return "invalid_url", f"{value!r} must not carry a user name or password."
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        return "insecure_url", f"{value!r} must use https (http only for localhost)."
    return None


def url_host(value: str) -> str | None:
    try:
        return urlsplit(value).hostname
    except ValueError:
        return None
