"""The base structs every request and response schema derives from (STYLE habit 8).

Inputs refuse unknown fields (a typo is a 400, not a silently ignored key) and
take keyword arguments only; outputs leave out fields at their defaults.
Update inputs default their fields to `msgspec.UNSET`, so "not sent" and
"sent as null" stay different.
"""

from __future__ import annotations

import msgspec


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body."""


class Output(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A response body."""
