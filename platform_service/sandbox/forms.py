"""Decode Stripe's bracketed form encoding (`a[b][0][c]=x`) into nested objects.

The SDK always indexes arrays (`expand[0]=x`); other clients send `expand[]=x`, so both
are accepted. Values stay strings: typing them is the validator's job, because only the
schema knows whether `"1"` is an integer or a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from platform_service.sandbox.errors import invalid_request

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """`a[b][0]` -> `["a", "b", "0"]`; `a[]` -> `["a", ""]`."""
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    rest = "[" + rest
    parts = _SEGMENT.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest:
        raise invalid_request(f"Invalid parameter name: {key}", param=key)
    return [head, *parts]


def decode_pairs(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Build the nested object; dicts whose keys are all integers become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                # `a[]` appends: give it the next free index.
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return _listify(root)


def _listify(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        out[key] = _listify_value(value)
    return out


def _listify_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value and all(k.isdigit() for k in value):
        return [_listify_value(value[k]) for k in sorted(value, key=int)]
    return _listify(value)


def decode_query(query: str) -> dict[str, Any]:
    return decode_pairs(parse_qsl(query, keep_blank_values=True))


def decode_form_body(body: bytes) -> dict[str, Any]:
    return decode_pairs(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


class Upload:
    """A file part of a multipart body."""

    def __init__(self, filename: str, content: bytes, content_type: str | None) -> None:
        self.filename = filename
        self.content = content
        self.content_type = content_type
