"""URL rules shared by the domains: where the service may send a browser."""

from __future__ import annotations

from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def check_url(value: str) -> str | None:
    """None when `value` is an absolute https URL (http only for localhost), else why not."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        return "must use https (http is allowed only for localhost)"
    return None


def url_host(value: str) -> str | None:
    try:
        return urlsplit(value).hostname
    except ValueError:
        return None
