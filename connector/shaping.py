"""Record shaping: a resource's fields compiled into one function that turns an API item into
its typed record (issue 11: typed pulls cost little more than a hand-written loop).

Each field becomes a getter specialised to its selector (a one- or two-key path is a direct
``dict.get``, an index a bounds-checked subscript; fan-outs and JSONPath keep the general
:class:`~connector.selectors.Selector`) and a converter specialised to its type (``DateTime``
through ``datetime.fromisoformat``). The result is exactly what
``{f.name: convert_value(f.selector.select(doc), f.type)}`` gives, only faster; a property test
holds the two together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .selectors import FieldType, Selector, convert_value
from .types import JSON

__all__ = ["RecordShape", "compile_shape"]

Getter = Callable[[Any], Any]
Converter = Callable[[Any], Any]


def _getter(selector: Selector) -> Getter:
    steps = selector.steps
    if steps is None or "*" in steps or not steps:
        return selector.select
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]

        def one(document: Any) -> Any:
            return document.get(key) if isinstance(document, dict) else None

        return one
    if len(steps) == 2 and isinstance(steps[0], str) and isinstance(steps[1], str):
        first, second = steps

        def two(document: Any) -> Any:
            if isinstance(document, dict):
                inner = document.get(first)
                if isinstance(inner, dict):
                    return inner.get(second)
            return None

        return two
    return selector.select


def _from_iso(value: Any) -> Any:
    if value.__class__ is str:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return convert_value(value, "DateTime")
    return value


def _to_string(value: Any) -> Any:
    if value.__class__ is int or value.__class__ is float:
        return str(value)
    return value


def _keep(value: Any) -> Any:
    return value


def _converter(field_type: FieldType) -> Converter:
    if field_type == "DateTime":
        return _from_iso
    if field_type == "String":
        return _to_string
    if field_type in ("Object", "Array", "Boolean"):
        return _keep

    def general(value: Any) -> Any:
        return None if value is None else convert_value(value, field_type)

    return general


_INLINE = {
    # How a type's conversion is written inline in generated code (``v`` is the value).
    "DateTime": "(_iso(v) if v.__class__ is str else v)",
    "String": "(str(v) if v.__class__ is int or v.__class__ is float else v)",
    "Object": "v",
    "Array": "v",
    "Boolean": "v",
}


def _generated(fields: Sequence[tuple[str, FieldType, Selector]]) -> Getter | None:
    """One generated function for records whose selectors are all plain one- or two-key
    paths (the common case): direct ``dict.get`` calls, conversions inline. Keys and names
    enter the source only through ``repr`` of ``str``, so no definition text becomes code."""
    lines = [
        "def shape(document):",
        "    if document.__class__ is not dict:",
        "        return _slow(document)",
        "    get = document.get",
        "    record = {}",
    ]
    for index, (name, field_type, selector) in enumerate(fields):
        steps = selector.steps
        if not steps or len(steps) > 2 or not all(isinstance(step, str) for step in steps):
            return None
        if steps[0] == "*" or steps[-1] == "*":
            return None
        if len(steps) == 1:
            lines.append(f"    v = get({steps[0]!r})")
        else:
            lines.append(f"    v = get({steps[0]!r})")
            lines.append(f"    v = v.get({steps[1]!r}) if v.__class__ is dict else None")
        convert = _INLINE.get(field_type)
        if field_type in ("Integer", "Number"):
            # The common case (already a JSON number) inline; strings and floats convert.
            kinds = "v.__class__ is int" + (
                " or v.__class__ is float" if field_type == "Number" else ""
            )
            lines.append(
                f"    record[{name!r}] = v if v is None or {kinds} else _convert[{index}](v)"
            )
        elif convert is None:
            lines.append(f"    record[{name!r}] = None if v is None else _convert[{index}](v)")
        else:
            lines.append(f"    record[{name!r}] = {convert}")
    lines.append("    return record")
    namespace: dict[str, Any] = {
        "_iso": _from_iso,
        "_convert": [_converter(field_type) for _, field_type, _ in fields],
    }
    # The source holds only repr() of str keys and names: no definition text becomes code.
    exec("\n".join(lines), namespace)
    return namespace["shape"]  # type: ignore[no-any-return]


class RecordShape:
    """The compiled shape of a record: ``shape(item) -> {name: typed value}``."""

    __slots__ = ("_fast", "_parts", "names")

    def __init__(self, fields: Sequence[tuple[str, FieldType, Selector]]) -> None:
        self.names = tuple(name for name, _, _ in fields)
        self._parts = tuple(
            (name, _getter(selector), _converter(field_type))
            for name, field_type, selector in fields
        )
        self._fast = _generated(fields)
        if self._fast is not None:
            self._fast.__globals__["_slow"] = self._slow

    def _slow(self, document: JSON) -> dict[str, JSON]:
        return {name: convert(get(document)) for name, get, convert in self._parts}

    def __call__(self, document: JSON) -> dict[str, JSON]:
        if self._fast is not None:
            return self._fast(document)  # type: ignore[no-any-return]
        return self._slow(document)


def compile_shape(fields: Sequence[tuple[str, FieldType, Selector]]) -> RecordShape:
    """Compile ``(name, type, selector)`` triples into one shaping function."""
    return RecordShape(fields)
