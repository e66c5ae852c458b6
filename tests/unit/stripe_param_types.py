"""Check a params dict against the stripe SDK's generated TypedDicts, as Stripe would.

The SDK widens every enum to `Literal[...] | str` for forward compatibility;
Stripe accepts only the listed values, so here `Literal[...] | str` is a closed
enum (keeping `''` where `Literal['']` is listed) and a lone `Literal[''] | str`
is a free string (stripe-contract.md, "Reading the SDK's types as a schema").
Keys inherited from `RequestOptions` are request options, not body params, and
count as unknown.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

from stripe._request_options import RequestOptions
from typing_extensions import is_typeddict


def _resolve(owner: type, name: str, annotation: Any) -> Any:
    # Resolve one field at a time: some sibling annotations name types that
    # exist only for type checkers (StripeContext), which would sink a
    # whole-class get_type_hints.
    probe = types.new_class("_Probe", (), {})
    probe.__annotations__ = {name: annotation}
    probe.__module__ = owner.__module__
    return typing.get_type_hints(
        probe, globalns=vars(sys.modules[owner.__module__]), include_extras=True
    )[name]


def typed_dict_fields(cls: type) -> dict[str, tuple[Any, bool]]:
    """Body fields of a params TypedDict: name -> (type, required)."""
    options = set(RequestOptions.__annotations__)
    required_keys: frozenset[str] = cls.__required_keys__  # type: ignore[attr-defined]
    fields: dict[str, tuple[Any, bool]] = {}
    # A TypedDict's own annotations already include those of its bases.
    for name, annotation in inspect.get_annotations(cls).items():
        if name in options:
            continue
        tp = _resolve(cls, name, annotation)
        while get_origin(tp) in (NotRequired, Required):
            tp = get_args(tp)[0]
        fields[name] = (tp, name in required_keys)
    return fields


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _flatten(tp: Any) -> list[Any]:
    if _is_union(tp):
        return [leaf for arg in get_args(tp) for leaf in _flatten(arg)]
    return [tp]


def check_params(value: Any, tp: Any, path: str = "") -> list[str]:
    """Every way `value` breaks the type `tp`; empty when Stripe would accept it."""
    where = path or "<root>"
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        fields = typed_dict_fields(tp)
        errors = [f"{path}.{k}: unknown parameter".lstrip(".") for k in value if k not in fields]
        for key, (field_tp, required) in fields.items():
            sub = f"{path}.{key}".lstrip(".")
            if key in value:
                errors += check_params(value[key], field_tp, sub)
            elif required:
                errors.append(f"{sub}: missing required parameter")
        return errors

    if _is_union(tp) or get_origin(tp) is Literal:
        options = _flatten(tp)
        literals = [v for o in options if get_origin(o) is Literal for v in get_args(o)]
        has_str = str in options
        others = [o for o in options if get_origin(o) is not Literal and o is not str]
        if isinstance(value, str):
            if has_str and all(v == "" for v in literals):
                return [] if literals or value else [f"{where}: cannot be unset with ''"]
            if value in literals:
                return []
            if literals:
                return [f"{where}: {value!r} is not one of {sorted(map(str, literals))}"]
            if has_str:
                return []
        attempts = [check_params(value, o, path) for o in others]
        if any(not a for a in attempts):
            return []
        if not attempts:
            return [f"{where}: {value!r} does not match {tp}"]
        return min(attempts, key=len)

    origin = get_origin(tp)
    if origin in (list, typing.List):  # noqa: UP006 - the SDK spells it List
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        (item_tp,) = get_args(tp)
        return [
            e for i, item in enumerate(value) for e in check_params(item, item_tp, f"{path}[{i}]")
        ]
    if origin in (dict, typing.Dict):  # noqa: UP006
        key_tp, value_tp = get_args(tp)
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        return [
            e
            for k, v in value.items()
            for e in check_params(k, key_tp, f"{path}.<key>")
            + check_params(v, value_tp, f"{path}.{k}")
        ]
    if origin is not None:
        # e.g. UntypedStripeObject[str]: an SDK object, never a plain params value.
        return [f"{where}: expected {tp}"]
    if tp is Any:
        return []
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean, got {value!r}"]
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer, got {value!r}"]
    if tp is str:
        if value == "":
            # Stripe reads "" as "unset", refused where the SDK lists no Literal[''].
            return [f"{where}: cannot be unset with ''"]
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {value!r}"]
    raise TypeError(f"{where}: the checker does not understand {tp!r}")
