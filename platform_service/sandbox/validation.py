"""Validate decoded request parameters against the SDK's own `stripe.params` TypedDicts.

The TypedDicts are generated from Stripe's OpenAPI spec, so they are the offline
contract. Two readings differ from Python's: `Literal[...]|str` is widened only for the
SDK's forward compatibility, so Stripe (and this validator) treat it as the closed enum,
keeping `''` when `Literal['']` is listed; a lone `Literal['']|str` is a free string.
Each field's annotation is resolved on its own because some (RequestOptions'
`StripeContext`) name types that exist only for type checkers.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ForwardRef, Literal, NotRequired, Required, Union

import typing_extensions
from stripe._request_options import RequestOptions

from platform_service.sandbox.errors import StripeError, invalid_request

_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)


@dataclass(frozen=True)
class Scalar:
    kind: Literal["str", "int", "bool", "float", "any"]


@dataclass(frozen=True)
class Enum:
    values: frozenset[str]


@dataclass(frozen=True)
class ListOf:
    item: Node


@dataclass(frozen=True)
class MapOf:
    """`Dict[str, str]` (metadata) and other free-keyed objects."""

    value: Node


@dataclass(frozen=True)
class Obj:
    name: str
    fields: dict[str, Node] = field(hash=False)
    required: frozenset[str]


@dataclass(frozen=True)
class OneOf:
    options: tuple[Node, ...]
    allows_empty: bool
    allows_null: bool = False  # `Optional[...]`: only JSON (v2) bodies can send null


Node = Scalar | Enum | ListOf | MapOf | Obj | OneOf

_EMPTY = object()  # marks `Literal['']` among a union's options


def _resolve(annotation: Any, module: str) -> Any:
    """Evaluate string/ForwardRef annotations in the defining module's namespace."""
    if isinstance(annotation, ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        namespace = dict(vars(sys.modules[module]))
        annotation = eval(annotation, namespace)  # noqa: S307 - SDK-shipped type strings
    return annotation


def _node(annotation: Any, module: str) -> Node:
    annotation = _resolve(annotation, module)
    origin = typing.get_origin(annotation)
    if origin in (NotRequired, Required):
        return _node(typing.get_args(annotation)[0], module)
    if origin in (Union, types.UnionType):
        return _union([_resolve(a, module) for a in typing.get_args(annotation)], module)
    if origin is Literal:
        return _union([annotation], module)
    if annotation is str:
        return Scalar("str")
    if annotation is bool:
        return Scalar("bool")
    if annotation is int:
        return Scalar("int")
    if annotation is float:
        return Scalar("float")
    if origin in (list, typing.List):  # noqa: UP006 - matching the SDK's spelling
        return ListOf(_node(typing.get_args(annotation)[0], module))
    if origin in (dict, typing.Dict):  # noqa: UP006
        return MapOf(_node(typing.get_args(annotation)[1], module))
    if typing_extensions.is_typeddict(annotation):
        return schema_for(annotation)
    if origin is not None and getattr(origin, "__name__", "") == "UntypedStripeObject":
        return MapOf(Scalar("any"))
    return Scalar("any")


def _union(options: list[Any], module: str) -> Node:
    literals: list[str] = []
    others: list[Any] = []
    has_str = False
    for option in options:
        if typing.get_origin(option) is Literal:
            literals.extend(str(v) for v in typing.get_args(option))
        elif option is str:
            has_str = True
        else:
            others.append(option)
    allows_empty = "" in literals
    allows_null = any(o is type(None) for o in others)
    named = [v for v in literals if v != ""]
    nodes: list[Node] = []
    if named:
        nodes.append(Enum(frozenset(named)))
    elif has_str:
        nodes.append(Scalar("str"))
    nodes.extend(_node(o, module) for o in others if o is not type(None))
    if len(nodes) == 1 and not allows_empty and not allows_null:
        return nodes[0]
    return OneOf(tuple(nodes), allows_empty, allows_null)


@functools.cache
def schema_for(params_class: type) -> Obj:
    """The schema of a params TypedDict, without the SDK's client-side RequestOptions."""
    fields: dict[str, Node] = {}
    own: dict[str, Any] = params_class.__annotations__
    skip_options = RequestOptions in getattr(params_class, "__orig_bases__", ())
    for name, annotation in own.items():
        if skip_options and name in _REQUEST_OPTION_KEYS:
            continue
        fields[name] = _node(annotation, params_class.__module__)
    required = frozenset(
        k for k in getattr(params_class, "__required_keys__", frozenset()) if k in fields
    )
    return Obj(params_class.__name__, fields, required)


@dataclass(frozen=True)
class Mode:
    """How a request carried its params: v1 form/query strings with `a[b]` paths, or v2,
    whose JSON bodies keep their types and whose errors name `a.b` paths."""

    json: bool = False
    dotted: bool = False


FORM = Mode()


def _path(parent: str, key: str | int, mode: Mode = FORM) -> str:
    if not parent:
        return str(key)
    if mode.dotted and isinstance(key, str):
        return f"{parent}.{key}"
    return f"{parent}[{key}]"


def validate(value: dict[str, Any], schema: Obj, mode: Mode = FORM) -> dict[str, Any]:
    """Return the params with scalars typed, or raise Stripe's 400 for the first problem."""
    result = _check(value, schema, "", mode)
    assert isinstance(result, dict)
    return result


def _check(value: Any, node: Node, path: str, mode: Mode) -> Any:
    if isinstance(node, OneOf):
        return _check_one_of(value, node, path, mode)
    if value == "" and not (isinstance(node, Scalar) and node.kind == "any"):
        raise _empty(path)
    if value is None and mode.json and not (isinstance(node, Scalar) and node.kind == "any"):
        raise invalid_request(f"Invalid null: {path} cannot be null", param=path)
    if isinstance(node, Obj):
        return _check_obj(value, node, path, mode)
    if isinstance(node, ListOf):
        if isinstance(value, dict) and not value and not mode.json:
            return []
        if not isinstance(value, list):
            raise invalid_request(f"Invalid array: {path}", param=path)
        return [_check(item, node.item, _path(path, i, mode), mode) for i, item in enumerate(value)]
    if isinstance(node, MapOf):
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid object: {path}", param=path)
        return {
            k: v if v == "" and not mode.json else _check(v, node.value, _path(path, k, mode), mode)
            for k, v in value.items()
        }
    if isinstance(node, Enum):
        if not isinstance(value, str) or value not in node.values:
            choices = ", ".join(sorted(node.values))
            raise invalid_request(f"Invalid {path}: must be one of {choices}", param=path)
        return value
    return _check_json_scalar(value, node, path) if mode.json else _check_scalar(value, node, path)


def _check_one_of(value: Any, node: OneOf, path: str, mode: Mode) -> Any:
    if value == "":
        if node.allows_empty:
            return ""
        raise _empty(path)
    if value is None and mode.json and node.allows_null:
        return None
    first_error: StripeError | None = None
    for option in node.options:
        try:
            return _check(value, option, path, mode)
        except StripeError as exc:
            # An object option's own error (unknown nested key) beats "invalid type".
            if first_error is None or (isinstance(value, dict) and isinstance(option, Obj)):
                first_error = exc
    assert first_error is not None
    raise first_error


def _check_obj(value: Any, node: Obj, path: str, mode: Mode) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {path}", param=path)
    out: dict[str, Any] = {}
    for key, item in value.items():
        child = node.fields.get(key)
        if child is None:
            p = _path(path, key, mode)
            raise invalid_request(
                f"Received unknown parameter: {p}", param=p, code="parameter_unknown"
            )
        out[key] = _check(item, child, _path(path, key, mode), mode)
    for key in sorted(node.required):
        if key not in value:
            p = _path(path, key, mode)
            raise invalid_request(
                f"Missing required param: {p}.", param=p, code="parameter_missing"
            )
    return out


def _check_scalar(value: Any, node: Scalar, path: str) -> Any:
    if node.kind == "any":
        return value
    if not isinstance(value, str):
        raise invalid_request(f"Invalid {node.kind}: {path} must be a scalar", param=path)
    if node.kind == "str":
        return value
    if node.kind == "bool":
        if value not in ("true", "false"):
            raise invalid_request(f"Invalid boolean: {value}", param=path)
        return value == "true"
    if node.kind == "int":
        try:
            return int(value)
        except ValueError:
            raise invalid_request(
                f"Invalid integer: {value}", param=path, code="parameter_invalid_integer"
            ) from None
    try:
        return float(value)
    except ValueError:
        raise invalid_request(f"Invalid decimal: {value}", param=path) from None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
}


def _check_json_scalar(value: Any, node: Scalar, path: str) -> Any:
    if node.kind == "any":
        return value
    wanted = _JSON_TYPES[node.kind]
    # JSON's true/false must not pass for numbers (bool is an int in Python).
    if not isinstance(value, wanted) or (node.kind != "bool" and isinstance(value, bool)):
        names = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}
        raise invalid_request(f"Invalid {path}: must be a {names[node.kind]}", param=path)
    return value


def _empty(path: str) -> StripeError:
    return invalid_request(
        f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' "
        "from your request or supply a non-empty value.",
        param=path,
        code="parameter_invalid_empty",
    )
