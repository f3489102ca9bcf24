"""Workflow inputs: a small JSON Schema subset, defaults applied, secrets kept out of messages.

Supported keywords: ``type`` (a name or a list of names), ``required``, ``properties``,
``additionalProperties: false``, ``items``, ``enum``, ``default``, ``minItems``/``maxItems``
and ``minLength``/``maxLength``. Other keywords (``format``, ``pattern``, ``$ref`` ...) are
accepted and ignored; the subset is all the Arazzo documents we run need, and it keeps the
package free of a dependency for one function.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from connector.errors import InputError, InputProblem, Problem

from .expressions import JSON

__all__ = ["SECRET_NAME", "apply_inputs", "check_schema", "is_secret_name"]

# Input and header names whose values must never be printed (apiKey, x-api-key, token ...).
SECRET_NAME = re.compile(r"(?i)(api[-_]?key|token|secret|password|authorization|credential)")

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, Mapping),
    "null": lambda v: v is None,
}


def is_secret_name(name: str) -> bool:
    """Whether a value under this name is a secret (never shown in errors or logs)."""
    return bool(SECRET_NAME.search(name))


def check_schema(schema: JSON, where: str) -> list[Problem]:
    """Problems in an inputs schema that would make validating inputs meaningless."""
    if not isinstance(schema, Mapping):
        return [Problem(where, "a JSON Schema is a mapping", found=type(schema).__name__)]
    problems = []
    types = schema.get("type")
    for name in types if isinstance(types, list) else ([types] if types is not None else []):
        if name not in _TYPES:
            problems.append(
                Problem(
                    f"{where}.type",
                    "unknown JSON Schema type",
                    found=name,
                    allowed=", ".join(_TYPES),
                )
            )
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        problems.append(
            Problem(f"{where}.properties", "must be a mapping", found=type(properties).__name__)
        )
        properties = {}
    for name, sub in properties.items():
        problems += check_schema(sub, f"{where}.properties.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append(
            Problem(f"{where}.required", "must be a list of property names", found=required)
        )
    if isinstance(schema.get("items"), Mapping):
        problems += check_schema(schema["items"], f"{where}.items")
    if "enum" in schema and not isinstance(schema["enum"], list):
        problems.append(Problem(f"{where}.enum", "must be a list", found=schema["enum"]))
    return problems


def apply_inputs(schema: Mapping[str, JSON] | None, values: Mapping[str, JSON]) -> dict[str, JSON]:
    """Validate ``values`` against ``schema`` and return them with defaults filled in.

    Raises :class:`InputError` listing every problem; a secret's value is never shown.

    >>> apply_inputs({"type": "object", "properties": {"v": {"type": "string", "default": "1"}}}, {})
    {'v': '1'}
    """
    problems: list[InputProblem] = []
    result = _apply(schema or {}, dict(values), "", problems)
    if problems:
        raise InputError(problems)
    return dict(result) if isinstance(result, Mapping) else dict(values)


def _apply(
    schema: Mapping[str, JSON], value: JSON, where: str, problems: list[InputProblem]
) -> JSON:
    name = where or "inputs"
    shown = "***" if is_secret_name(where) else value
    types = schema.get("type")
    allowed = types if isinstance(types, list) else ([types] if types else [])
    if allowed and not any(_TYPES[t](value) for t in allowed if t in _TYPES):
        problems.append(InputProblem(name, f"must be of type {' or '.join(allowed)}", _show(shown)))
        return value
    if "enum" in schema and value not in schema["enum"]:
        problems.append(InputProblem(name, f"must be one of {schema['enum']}", _show(shown)))
    if isinstance(value, str):
        _bounds(len(value), schema, "minLength", "maxLength", "characters", name, problems)
    if isinstance(value, list):
        _bounds(len(value), schema, "minItems", "maxItems", "items", name, problems)
        items = schema.get("items")
        if isinstance(items, Mapping):
            value = [_apply(items, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        value = dict(value)
        properties = schema.get("properties") or {}
        for prop, sub in properties.items():
            if prop not in value and isinstance(sub, Mapping) and "default" in sub:
                value[prop] = sub["default"]
        for prop in schema.get("required") or []:
            if prop not in value:
                problems.append(InputProblem(_join(where, prop), "is required"))
        for prop, item in list(value.items()):
            if prop in properties:
                value[prop] = _apply(properties[prop], item, _join(where, prop), problems)
            elif schema.get("additionalProperties") is False:
                problems.append(
                    InputProblem(
                        _join(where, prop),
                        f"is not an input of this workflow; known: {', '.join(properties)}",
                    )
                )
    return value


def _bounds(
    size: int,
    schema: Mapping[str, JSON],
    low: str,
    high: str,
    unit: str,
    name: str,
    problems: list[InputProblem],
) -> None:
    if isinstance(schema.get(low), int) and size < schema[low]:
        problems.append(InputProblem(name, f"needs at least {schema[low]} {unit}", size))
    if isinstance(schema.get(high), int) and size > schema[high]:
        problems.append(InputProblem(name, f"allows at most {schema[high]} {unit}", size))


def _join(where: str, prop: str) -> str:
    return f"{where}.{prop}" if where else prop


def _show(value: JSON) -> JSON:
    if isinstance(value, Mapping | list):
        return type(value).__name__
    return value
