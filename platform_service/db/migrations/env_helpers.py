"""What autogenerate compares (importable: env.py itself runs as a script)."""

from __future__ import annotations

from typing import Any

from platform_service.db.base import DATABASE_SPECIFIC_INDEXES


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (type_ == "index" and name in DATABASE_SPECIFIC_INDEXES)
