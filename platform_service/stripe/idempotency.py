"""Deterministic idempotency keys, derived from what makes a Stripe write unique."""

from __future__ import annotations

import hashlib
import json
import re
from uuid import UUID

# Stripe accepts up to 255 characters; staying well under leaves room to read
# keys in the Dashboard's request log.
MAX_KEY_LENGTH = 255
_READABLE_PART = re.compile(r"[A-Za-z0-9_.\-]+")

KeyPart = str | int | UUID


def idempotency_key(namespace: str, *parts: KeyPart) -> str:
    """Return a stable key for (namespace, *parts), e.g. ``bulk:<job>:<acct>:<version>``.

    Readable when every part is a plain token and the key fits; otherwise the
    parts are hashed, so arbitrary values (URLs, names) still give a short key.
    Never include anything that changes between attempts (time, attempt number).
    """
    if len(namespace) > 64 or not _READABLE_PART.fullmatch(namespace):
        raise ValueError(f"idempotency namespace must be a plain token, got {namespace!r}")
    if not parts:
        raise ValueError("an idempotency key needs at least one part besides the namespace")
    texts = [str(part) for part in parts]
    if all(_READABLE_PART.fullmatch(text) for text in texts):
        readable = ":".join([namespace, *texts])
        if len(readable) <= MAX_KEY_LENGTH:
            return readable
    # JSON keeps part boundaries unambiguous ("a:b","c" vs "a","b:c"), and the
    # '#' separator cannot occur in a readable key, so the two forms never collide.
    digest = hashlib.sha256(json.dumps(texts).encode()).hexdigest()
    return f"{namespace}#{digest}"


def retry_key(key: str, generation: int) -> str:
    """The key for another try at a write whose `key` Stripe answered with a stored 5xx.

    Stripe replays a started request's outcome, 500s included, to every retry with its
    key; once a read shows the write did not land, only a new key can try again. The
    suffix keeps the new key derived (`<key>:r1`, `<key>:r2`, ...), never random.
    """
    if generation < 1:
        raise ValueError("generation starts at 1")
    derived = f"{key}:r{generation}"
    if len(derived) <= MAX_KEY_LENGTH:
        return derived
    return "retry#" + hashlib.sha256(derived.encode()).hexdigest()
