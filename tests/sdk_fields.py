"""Walk the installed Python SDK's response models against raw JSON answers: every field a
model declares must be a key of the answer (required-but-nullable fields as null), at every
depth, choosing union variants by their ``type`` literal."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _literal_type(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type")
    if field is None:
        return ()
    args = get_args(_strip(field.annotation))
    return args if get_origin(_strip(field.annotation)) is Literal else ()


def _strip(kind: Any) -> Any:
    # Annotated[X, PropertyInfo(discriminator=...)] -> X
    while get_origin(kind) is typing.Annotated:
        kind = get_args(kind)[0]
    return kind


def missing_keys(value: Any, kind: Any, where: str = "$") -> list[str]:
    """Every ``location.key`` the SDK declares that ``value`` lacks."""
    kind = _strip(kind)
    origin = get_origin(kind)
    if value is None:
        return []
    if origin in (Union, types.UnionType):
        options = [k for k in get_args(kind) if k is not type(None)]
        models = [_strip(k) for k in options if _is_model(_strip(k))]
        if models and isinstance(value, dict):
            chosen = [m for m in models if value.get("type") in _literal_type(m)]
            if len(chosen) == 1:
                return missing_keys(value, chosen[0], where)
            if not chosen and len(models) == 1:
                return missing_keys(value, models[0], where)
            return []  # no discriminating type: cannot tell which variant is meant
        if len(options) == 1:
            return missing_keys(value, options[0], where)
        return []
    if origin in (list, typing.List) and isinstance(value, list):  # noqa: UP006
        (item,) = get_args(kind) or (Any,)
        return [m for i, v in enumerate(value) for m in missing_keys(v, item, f"{where}[{i}]")]
    if _is_model(kind) and isinstance(value, dict):
        found: list[str] = []
        for name, field in kind.model_fields.items():
            key = field.alias or name
            if key not in value:
                found.append(f"{where}.{key}")
                continue
            found += missing_keys(value[key], field.annotation, f"{where}.{key}")
        return found
    return []
